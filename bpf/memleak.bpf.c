// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* memleak: outstanding allocations by stack (the book's memleak, 7.3.2).
 *
 * Process mode: uprobes on the allocator's entry points (malloc, calloc, realloc, the memalign
 * family, mmap) record the size and the user stack, a uretprobe records the address returned, and
 * uprobes on free/munmap forget it. The stack is captured at entry together with the return
 * address at [sp], so the immediate caller of malloc is frame 0 (a frame-pointer walk at a
 * function's first instruction skips it). Calls nested inside another traced call (malloc inside
 * realloc(NULL, n), mmap inside a large malloc, free inside realloc(p, 0)) are not counted twice:
 * an entry and its return are matched by the stack pointer (at the return, sp is the entry's + 8),
 * so a record left by an entry whose return was never seen (the probes attached while the call
 * ran) is recognised as stale instead of making every later call look nested.
 *
 * Sampler mode (-c --sample-bytes): a preloaded shim samples allocations by bytes inside the
 * process and calls memscope_sampled_alloc(ptr, size, weight) / memscope_sampled_free(ptr) only
 * for sampled blocks; those two functions are probed here and weight is the bytes each stands for.
 *
 * Kernel mode: the kmem tracepoints (kmalloc/kfree, kmem_cache_alloc/free, mm_page_alloc/free,
 * percpu_alloc_percpu/free_percpu) with kernel stacks.
 *
 * Every outstanding allocation is in `allocs` (address -> size, weight, time, stack); `combined`
 * keeps running totals per stack so the cheap report (--combined-only) reads one small map. */
#include "memleak_state.h"

/* ---- process mode ---- */

static __always_inline bool ml_traced(__u32 tgid)
{
	return ms_traced(tgid) && (!wait_exec || exec_seen);
}

/* An exec ends the image whose allocations were recorded: its heap is gone with it, so its
 * records go too (memleak -c 'env prog' reports prog's allocations, not env's), and the process
 * is noted again so its new mappings are read. -c: the gate shell's exec starts the tracing. */
__u64 execs = 0;        /* execs of the target seen: userspace reads its name again */
char exec_comm[16] = {}; /* the target's name after its last exec, for reports after it exited */

static long ml_drop_alloc(struct bpf_map *map, __u64 *addr, struct ml_alloc *a, __u32 *tgid)
{
	if (a->key.tgid == *tgid)
		bpf_map_delete_elem(&allocs, addr);
	return 0;
}

static long ml_drop_total(struct bpf_map *map, struct ml_key *key, struct ml_total *t, __u32 *tgid)
{
	if (key->tgid == *tgid)
		bpf_map_delete_elem(&combined, key);
	return 0;
}

static __always_inline void ml_exec(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!targ_tgid || tgid != targ_tgid)
		return;
	exec_seen = true;
	bpf_for_each_map_elem(&allocs, ml_drop_alloc, &tgid, 0);
	bpf_for_each_map_elem(&combined, ml_drop_total, &tgid, 0);
	bpf_map_delete_elem(&ms_seen, &tgid);
	bpf_map_delete_elem(&ms_dwarf_exec_vm, &tgid);
	target_noted = false;
	bpf_get_current_comm(exec_comm, sizeof(exec_comm));
	__sync_fetch_and_add(&execs, 1);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf)
{
	ml_exec();
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int exec_tp(void *ctx)
{
	ml_exec();
	return 0;
}

/* -t/--trace: each recorded call as it happens, the three lines BCC's memleak --trace prints
 * (alloc entered, alloc exited with its result, free of a recorded block). Off by default: the
 * ring is then one page and the check below is pruned by the verifier. */
const volatile bool trace_calls = false;
__u64 trace_lost = 0;

enum ml_call { ML_CALL_ENTER = 0, ML_CALL_EXIT = 1, ML_CALL_FREE = 2 };

struct ml_call_event {
	__u64 ts;
	__u64 size;
	__u64 addr;
	__u32 tgid;
	__u32 tid;
	__u32 kind;
	__u32 pad;
	char comm[16];
};
MS_BTF_TYPE(ml_call_event); /* ring records have no map type: keep the layout in BTF for the check */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ml_calls SEC(".maps");

static __always_inline void ml_trace_call(__u32 kind, __u64 size, __u64 addr)
{
	if (!trace_calls)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	struct ml_call_event e = { .ts = bpf_ktime_get_ns(), .size = size, .addr = addr, .tgid = id >> 32, .tid = (__u32)id, .kind = kind };
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	if (bpf_ringbuf_output(&ml_calls, &e, sizeof(e), 0))
		__sync_fetch_and_add(&trace_lost, 1);
}

static __always_inline int ml_enter(struct pt_regs *ctx, __u64 size, __u64 aux, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!ml_traced(tgid))
		return 0;
	__u64 sp = PT_REGS_SP(ctx);
	__u64 ret = ms_entry_return_address(ctx);
	/* a thread's entry stays in the map between calls (marked inactive): no insert and delete
	 * per call; the map is an LRU, so entries of threads that are gone make room by themselves */
	struct ml_pending *p = bpf_map_lookup_elem(&pending, &tid);
	/* nested in the call in progress: deeper on the stack (malloc inside realloc, mmap inside
	 * malloc), or a tail call at the same sp, whose [sp] the outer call's uretprobe has replaced.
	 * Anything else means the recorded call is over without its return being seen: stale. */
	if (p && p->active && (sp < p->sp || (sp == p->sp && ret != p->ret)))
		return 0;
	struct ml_pending n = { .size = size, .aux = aux, .kind = kind, .active = 1, .sp = sp, .ret = ret };
	n.record = ml_in_bounds(size) && ml_sampled();
	if (n.record) {
		ml_note(tgid);
		ml_user_key(ctx, tgid, &n.key);
		ml_trace_call(ML_CALL_ENTER, size, 0);
	}
	if (p)
		*p = n;
	else if (bpf_map_update_elem(&pending, &tid, &n, BPF_ANY))
		__sync_fetch_and_add(&pending_full, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(malloc_enter, size_t size)
{
	return ml_enter(ctx, size, 0, ML_PLAIN);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, size_t nmemb, size_t size)
{
	return ml_enter(ctx, (__u64)nmemb * size, 0, ML_PLAIN);
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, void *ptr, size_t size)
{
	return ml_enter(ctx, size, (__u64)ptr, ML_REALLOC);
}

/* memalign(align, size), aligned_alloc(align, size) */
SEC("uprobe")
int BPF_KPROBE(memalign_enter, size_t align, size_t size)
{
	return ml_enter(ctx, size, 0, ML_PLAIN);
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, void **memptr, size_t align, size_t size)
{
	return ml_enter(ctx, size, (__u64)memptr, ML_POSIX_MEMALIGN);
}

SEC("uprobe")
int BPF_KPROBE(mmap_enter, void *addr, size_t length)
{
	return ml_enter(ctx, length, 0, ML_MMAP);
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!ml_traced(tgid))
		return 0;
	struct ml_pending *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p || !p->active)
		return 0;
	__u64 entry_sp = PT_REGS_SP(ctx) - 8; /* the return popped the return address */
	if (entry_sp < p->sp)
		return 0; /* a nested call returning */
	if (entry_sp > p->sp) {
		p->active = 0; /* the recorded call is over, its return unseen: stale */
		return 0;
	}
	/* this call's return (with a tail call inside it, the first of two at this sp) */
	struct ml_pending n = *p;
	p->active = 0;
	__u64 addr = (__u64)ret;
	switch (n.kind) {
	case ML_REALLOC:
		/* the block moved (or was freed by realloc(p, 0)): its bytes leave the old address */
		if (n.aux && (addr || n.size == 0))
			ml_release(n.aux);
		break;
	case ML_POSIX_MEMALIGN:
		addr = 0;
		if (ret == 0 && n.aux)
			bpf_probe_read_user(&addr, sizeof(addr), (void *)n.aux);
		break;
	case ML_MMAP:
		if (ret == -1)
			addr = 0;
		break;
	}
	if (n.record)
		ml_trace_call(ML_CALL_EXIT, n.size, addr);
	if (addr && n.record)
		ml_record(addr, n.size, n.size, 1, &n.key);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(free_enter, void *ptr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ml_traced(tgid) || !ptr)
		return 0;
	if (trace_calls) {
		__u64 addr = (__u64)ptr;
		struct ml_alloc *a = bpf_map_lookup_elem(&allocs, &addr);
		if (a)
			ml_trace_call(ML_CALL_FREE, a->size, addr);
	}
	ml_release((__u64)ptr);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(munmap_enter, void *addr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (ml_traced(tgid) && addr)
		ml_release((__u64)addr);
	return 0;
}

/* ---- sampler mode: hooks of the preloaded shim (shim/memscope_sampler.c) ---- */

#define ML_PENDING_FREES 16 /* PENDING_FREES in the shim */

/* Frees the shim passes along: a list of up to 16 sampled addresses in its memory. */
static __always_inline void ml_release_list(void *list, __u64 n)
{
	__u64 ptrs[ML_PENDING_FREES];
	if (!list || !n)
		return;
	if (bpf_probe_read_user(ptrs, sizeof(ptrs), list))
		return;
	for (int i = 0; i < ML_PENDING_FREES; i++) {
		if (i >= n)
			break;
		if (ptrs[i])
			ml_release(ptrs[i]);
	}
}

/* memscope_sampled_alloc(ptr, size, weight, frees, nfrees, caller): six arguments, more than
 * BPF_KPROBE names, so read from the registers */
SEC("uprobe")
int sampled_alloc(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ml_traced(tgid))
		return 0;
	__u64 ptr = PT_REGS_PARM1(ctx), size = PT_REGS_PARM2(ctx), weight = PT_REGS_PARM3(ctx);
	ml_release_list((void *)PT_REGS_PARM4(ctx), PT_REGS_PARM5(ctx)); /* first: the allocation may reuse one of these */
	if (!ptr) {
		/* the sampler could not keep this block (its record's malloc failed): said, not kept */
		if (weight)
			__sync_fetch_and_add(&sampled_unrecorded, 1);
		return 0;
	}
	struct ml_key key = {};
	ml_note(tgid);
	ml_user_key(ctx, tgid, &key);
	/* the shim never touches %rbp: the walk goes from the hook (frame 0) to the allocating
	 * function's caller; the allocating function is the return address of its malloc call */
	if (key.ustack != MS_USTACK_DWARF)
		key.caller = BPF_CORE_READ(ctx, r9);
	__u64 count = size ? weight / size : 1;
	ml_record(ptr, size, weight, count ? count : 1, &key);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(sampled_free, void *frees, unsigned long nfrees)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (ml_traced(tgid))
		ml_release_list(frees, nfrees);
	return 0;
}

/* ---- kernel mode ---- */

#define ML_PERCPU_TAG 0x5000000000000000ULL
#define ML_PFN_TAG 0x6000000000000000ULL

static __always_inline void ml_kernel_alloc(void *ctx, __u64 addr, __u64 size)
{
	if (!addr || !ml_in_bounds(size) || !ml_sampled())
		return;
	struct ml_key key = { .ustack = -1 };
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.kstack = ms_kernel_stack(ctx);
	if (key.kstack < 0)
		__sync_fetch_and_add(&stacks_lost, 1);
	ml_record(addr, size, size, 1, &key);
}

SEC("tp_btf/kmalloc")
int BPF_PROG(kmalloc_btf, unsigned long call_site, const void *ptr, size_t bytes_req, size_t bytes_alloc)
{
	ml_kernel_alloc(ctx, (__u64)ptr, bytes_alloc);
	return 0;
}

SEC("tp_btf/kfree")
int BPF_PROG(kfree_btf, unsigned long call_site, const void *ptr)
{
	ml_release((__u64)ptr);
	return 0;
}

SEC("tp_btf/kmem_cache_alloc")
int BPF_PROG(kmem_cache_alloc_btf, unsigned long call_site, const void *ptr, struct kmem_cache *s)
{
	ml_kernel_alloc(ctx, (__u64)ptr, BPF_CORE_READ(s, size));
	return 0;
}

SEC("tp_btf/kmem_cache_free")
int BPF_PROG(kmem_cache_free_btf, unsigned long call_site, const void *ptr)
{
	ml_release((__u64)ptr);
	return 0;
}

SEC("tp_btf/mm_page_alloc")
int BPF_PROG(page_alloc_btf, struct page *page, unsigned int order)
{
	ml_kernel_alloc(ctx, (__u64)page, 4096ULL << (order & 31));
	return 0;
}

SEC("tp_btf/mm_page_free")
int BPF_PROG(page_free_btf, struct page *page)
{
	ml_release((__u64)page);
	return 0;
}

SEC("tp_btf/mm_page_free_batched")
int BPF_PROG(page_free_batched_btf, struct page *page)
{
	ml_release((__u64)page);
	return 0;
}

SEC("tp_btf/percpu_alloc_percpu")
int BPF_PROG(percpu_alloc_btf, unsigned long call_site, bool reserved, bool is_atomic, size_t size, size_t align,
	     void *base_addr, int off, void *ptr, size_t bytes_alloc)
{
	ml_kernel_alloc(ctx, (__u64)ptr ^ ML_PERCPU_TAG, bytes_alloc);
	return 0;
}

SEC("tp_btf/percpu_free_percpu")
int BPF_PROG(percpu_free_btf, void *base_addr, int off, void *ptr)
{
	ml_release((__u64)ptr ^ ML_PERCPU_TAG);
	return 0;
}

/* Classic tracepoints, for kernels without BTF tracepoints. */
SEC("tracepoint/kmem/kmalloc")
int kmalloc_tp(struct trace_event_raw_kmalloc *args)
{
	ml_kernel_alloc(args, (__u64)args->ptr, args->bytes_alloc);
	return 0;
}

SEC("tracepoint/kmem/kfree")
int kfree_tp(struct trace_event_raw_kfree *args)
{
	ml_release((__u64)args->ptr);
	return 0;
}

SEC("tracepoint/kmem/kmem_cache_alloc")
int kmem_cache_alloc_tp(struct trace_event_raw_kmem_cache_alloc *args)
{
	ml_kernel_alloc(args, (__u64)args->ptr, args->bytes_alloc);
	return 0;
}

SEC("tracepoint/kmem/kmem_cache_free")
int kmem_cache_free_tp(struct trace_event_raw_kmem_cache_free *args)
{
	ml_release((__u64)args->ptr);
	return 0;
}

SEC("tracepoint/kmem/mm_page_alloc")
int page_alloc_tp(struct trace_event_raw_mm_page_alloc *args)
{
	ml_kernel_alloc(args, args->pfn | ML_PFN_TAG, 4096ULL << (args->order & 31));
	return 0;
}

SEC("tracepoint/kmem/mm_page_free")
int page_free_tp(struct trace_event_raw_mm_page_free *args)
{
	ml_release(args->pfn | ML_PFN_TAG);
	return 0;
}

SEC("tracepoint/kmem/mm_page_free_batched")
int page_free_batched_tp(struct trace_event_raw_mm_page_free_batched *args)
{
	ml_release(args->pfn | ML_PFN_TAG);
	return 0;
}

SEC("tracepoint/percpu/percpu_alloc_percpu")
int percpu_alloc_tp(struct trace_event_raw_percpu_alloc_percpu *args)
{
	ml_kernel_alloc(args, (__u64)args->ptr ^ ML_PERCPU_TAG, args->bytes_alloc);
	return 0;
}

SEC("tracepoint/percpu/percpu_free_percpu")
int percpu_free_tp(struct trace_event_raw_percpu_free_percpu *args)
{
	ml_release((__u64)args->ptr ^ ML_PERCPU_TAG);
	return 0;
}
