// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* brksize: sizes of heap expansions through brk(), as log2 histograms by process (the chapter's
 * exercise). The size is the new break (brk()'s return) minus the break before the call (mm->brk),
 * so only expansions that happened are counted: brk(0) queries and refused calls are not. */
#include "memscope.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); /* tid */
	__type(value, __u64); /* mm->brk at entry */
	__uint(max_entries, 10240);
} start SEC(".maps");

struct hist_key {
	__u32 tgid;
	__u32 bucket;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct hist_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} hist SEC(".maps");

/* bytes of expansion per process */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 10240);
} total SEC(".maps");

static __always_inline void on_enter(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!ms_traced(id >> 32))
		return;
	__u32 tid = (__u32)id;
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 old = BPF_CORE_READ(task, mm, brk);
	bpf_map_update_elem(&start, &tid, &old, BPF_ANY);
}

static __always_inline void on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 *old = bpf_map_lookup_elem(&start, &tid);
	if (!old)
		return;
	__u64 before = *old;
	bpf_map_delete_elem(&start, &tid);
	if (ret <= 0 || (__u64)ret <= before)
		return;
	__u64 size = (__u64)ret - before;
	struct hist_key key = { .tgid = id >> 32, .bucket = ms_log2_bucket(size) };
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	ms_map_add(&hist, &key, 1);
	ms_map_add(&total, &key.tgid, size);
}

SEC("tracepoint/syscalls/sys_enter_brk")
int brksize_enter(void *ctx)
{
	on_enter();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_brk")
int brksize_exit(struct trace_event_raw_sys_exit *ctx)
{
	on_exit(ctx->ret);
	return 0;
}

/* For kernels without per-syscall tracepoints: every syscall, filtered to brk here. */
SEC("tp_btf/sys_enter")
int BPF_PROG(brksize_sys_enter, struct pt_regs *regs, long id)
{
	if (id == 12 /* __NR_brk on x86_64 */)
		on_enter();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(brksize_sys_exit, struct pt_regs *regs, long ret)
{
	if (BPF_CORE_READ(regs, orig_ax) == 12)
		on_exit(ret);
	return 0;
}
