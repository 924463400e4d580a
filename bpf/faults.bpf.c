// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* faults: page faults counted by user (and with --kernel, kernel) stack and process — the
 * chapter's faults/stackcount on page_fault_user: the code paths that first touched memory,
 * which is what grows RSS. */
#include "stacks.h"

/* -K: also faults the kernel takes on user memory (copy_to_user and friends), with kernel stacks */
const volatile bool kernel_mode = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_stack_key);
	__type(value, __u64);
	__uint(max_entries, 65536);
} fault_counts SEC(".maps");

/* The agent's fault traces (the dashboard's "trace faults" of one process): while a pid is in
 * fault_trace_pids its faults are counted in maps of its own, so a storm of new (process, stack)
 * pairs elsewhere on the host, which fills fault_counts and ms_walked_ustacks until the next
 * collection, cannot drop them (a fork storm beside the agent lost 577,881 faults in a minute and
 * the traced workload's count came out short). Sized by the agent (fault_trace_on); the faults
 * tool leaves them at one entry and the verifier removes the path. */
const volatile bool fault_trace_on = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* windows open on it */
	__uint(max_entries, 1);
} fault_trace_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_stack_key);
	__type(value, __u64);
	__uint(max_entries, 1);
} fault_trace_counts SEC(".maps");

/* laid out as ms_walked_ustacks (same value size) */
MS_STACK_STORE(fault_trace_ustacks);

/* faults of traced pids not counted: fault_trace_counts was full */
__u64 fault_trace_lost = 0;

static __always_inline void count_traced_fault(void *ctx, __u32 tgid, bool kernel)
{
	struct ms_stack_key key = { .tgid = tgid, .ustack = -1, .kstack = -1 };
	__sync_fetch_and_add(&ms_events_seen, 1);
	ms_note_process_once(tgid);
	key.ustack = ms_walk_user_stack_in(&fault_trace_ustacks, false);
	if (kernel)
		key.kstack = ms_kernel_stack(ctx);
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	__u64 one = 1;
	__u64 *v = bpf_map_lookup_elem(&fault_trace_counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else if (bpf_map_update_elem(&fault_trace_counts, &key, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&fault_trace_counts, &key);
		if (v)
			__sync_fetch_and_add(v, 1);
		else
			__sync_fetch_and_add(&fault_trace_lost, 1);
	}
}

static __always_inline int count_fault(void *ctx, bool kernel)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid && ms_traced(tgid)) {
		if (fault_trace_on && bpf_map_lookup_elem(&fault_trace_pids, &tgid))
			count_traced_fault(ctx, tgid, kernel);
		else
			ms_count_stack_unwind(&fault_counts, ctx, tgid, kernel, 1);
		ms_cgroup_add(MS_CG_FAULTS, 1);
	}
	return 0;
}

/* The perf software event "page-faults" (the default): the same count as `perf stat -e
 * page-faults` (user-mode faults, plus with -K the kernel's faults on user memory), and never the
 * faults a BPF read of an absent page takes (those are fixed up before the event; the tracepoints
 * fire for them). */
SEC("perf_event")
int fault_perf(struct bpf_perf_event_data *ctx)
{
	/* taken in user mode: the faulting instruction is at a user address (the context refuses the
	 * 2-byte load of pt_regs' cs on kernels with FRED; ip is a plain 8-byte field) */
	bool user = (__s64)ctx->regs.ip >= 0;
	if (!user && !kernel_mode)
		return 0;
	return count_fault(ctx, !user);
}

/* user-mode faults */
SEC("tp_btf/page_fault_user")
int BPF_PROG(fault_user_btf, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return count_fault(ctx, false);
}

SEC("tracepoint/exceptions/page_fault_user")
int fault_user_tp(void *ctx)
{
	return count_fault(ctx, false);
}

/* faults the kernel takes on user memory (copy_to_user and friends): kernel and user stacks */
SEC("tp_btf/page_fault_kernel")
int BPF_PROG(fault_kernel_btf, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return count_fault(ctx, true);
}

SEC("tracepoint/exceptions/page_fault_kernel")
int fault_kernel_tp(void *ctx)
{
	return count_fault(ctx, true);
}
