// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* vmgrowth: virtual memory growth by process and user stack (the chapter's exercise): bytes added
 * through brk() and mmap()/mremap(), and removed through brk(), munmap() and mremap(), counted at
 * the syscall's successful return. brk sizes are the change of the break (mm->brk); mmap, munmap and
 * mremap lengths are rounded up to whole pages, as the kernel maps them. */
#include "stacks.h"

#define PAGE_SIZE_ 4096ULL
#define PAGE_UP(x) (((x) + PAGE_SIZE_ - 1) & ~(PAGE_SIZE_ - 1))

enum kind { K_BRK = 1, K_MMAP, K_MUNMAP, K_MREMAP };

/* user stacks are captured only when they are shown (-s): otherwise bytes per process only */
const volatile bool capture_stacks = true;

struct pending {
	__u64 a; /* brk: mm->brk before; mmap/munmap: length; mremap: old length */
	__u64 b; /* mremap: new length */
	__u32 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct pending);
	__uint(max_entries, 10240);
} inflight SEC(".maps");

#define STACK_MAP(name)                                   \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_HASH);          \
		__type(key, struct ms_stack_key);         \
		__type(value, __u64);                     \
		__uint(max_entries, 10240);               \
	} name SEC(".maps")

STACK_MAP(brk_grow);      /* bytes the break moved up */
STACK_MAP(brk_shrink);    /* bytes it moved down */
STACK_MAP(mmap_grow);     /* bytes mapped (mmap, mremap growth) */
STACK_MAP(munmap_shrink); /* bytes unmapped (munmap, mremap shrink) */

static __always_inline void stash(__u32 kind, __u64 a, __u64 b)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!ms_traced(id >> 32))
		return;
	__u32 tid = (__u32)id;
	struct pending p = { .a = a, .b = b, .kind = kind };
	bpf_map_update_elem(&inflight, &tid, &p, BPF_ANY);
}

static __always_inline int on_exit(void *ctx, __u32 kind, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u32 tgid = id >> 32;
	struct pending *pp = bpf_map_lookup_elem(&inflight, &tid);
	if (!pp)
		return 0;
	struct pending p = *pp;
	bpf_map_delete_elem(&inflight, &tid);
	if (p.kind != kind || (ret < 0 && ret > -4096))
		return 0;
	switch (kind) {
	case K_BRK:
		if ((__u64)ret > p.a) {
			ms_count_stack(&brk_grow, ctx, tgid, capture_stacks, false, (__u64)ret - p.a);
			ms_cgroup_add(MS_CG_BRK_BYTES, (__u64)ret - p.a);
		}
		else if ((__u64)ret < p.a)
			ms_count_stack(&brk_shrink, ctx, tgid, capture_stacks, false, p.a - (__u64)ret);
		break;
	case K_MMAP:
		if (p.a) {
			ms_count_stack(&mmap_grow, ctx, tgid, capture_stacks, false, p.a);
			ms_cgroup_add(MS_CG_MMAP_BYTES, p.a);
		}
		break;
	case K_MUNMAP:
		if (p.a)
			ms_count_stack(&munmap_shrink, ctx, tgid, capture_stacks, false, p.a);
		break;
	case K_MREMAP:
		if (p.b > p.a) {
			ms_count_stack(&mmap_grow, ctx, tgid, capture_stacks, false, p.b - p.a);
			ms_cgroup_add(MS_CG_MMAP_BYTES, p.b - p.a);
		}
		else if (p.b < p.a)
			ms_count_stack(&munmap_shrink, ctx, tgid, capture_stacks, false, p.a - p.b);
		break;
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_brk")
int vm_enter_brk(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	stash(K_BRK, BPF_CORE_READ(task, mm, brk), 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_brk")
int vm_exit_brk(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, K_BRK, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int vm_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	stash(K_MMAP, PAGE_UP(ctx->args[1]), 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int vm_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, K_MMAP, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_munmap")
int vm_enter_munmap(struct trace_event_raw_sys_enter *ctx)
{
	stash(K_MUNMAP, PAGE_UP(ctx->args[1]), 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_munmap")
int vm_exit_munmap(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, K_MUNMAP, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_mremap")
int vm_enter_mremap(struct trace_event_raw_sys_enter *ctx)
{
	stash(K_MREMAP, PAGE_UP(ctx->args[1]), PAGE_UP(ctx->args[2]));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mremap")
int vm_exit_mremap(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, K_MREMAP, ctx->ret);
}

/* For kernels without per-syscall tracepoints: every syscall, filtered to these four here
 * (x86_64 numbers: mmap 9, munmap 11, brk 12, mremap 25). */
SEC("tp_btf/sys_enter")
int BPF_PROG(vm_sys_enter, struct pt_regs *regs, long id)
{
	switch (id) {
	case 12: {
		struct task_struct *task = bpf_get_current_task_btf();
		stash(K_BRK, BPF_CORE_READ(task, mm, brk), 0);
		break;
	}
	case 9:
		stash(K_MMAP, PAGE_UP(BPF_CORE_READ(regs, si)), 0);
		break;
	case 11:
		stash(K_MUNMAP, PAGE_UP(BPF_CORE_READ(regs, si)), 0);
		break;
	case 25:
		stash(K_MREMAP, PAGE_UP(BPF_CORE_READ(regs, si)), PAGE_UP(BPF_CORE_READ(regs, dx)));
		break;
	}
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vm_sys_exit, struct pt_regs *regs, long ret)
{
	switch (BPF_CORE_READ(regs, orig_ax)) {
	case 12: return on_exit(ctx, K_BRK, ret);
	case 9: return on_exit(ctx, K_MMAP, ret);
	case 11: return on_exit(ctx, K_MUNMAP, ret);
	case 25: return on_exit(ctx, K_MREMAP, ret);
	}
	return 0;
}
