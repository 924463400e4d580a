/* faults: page faults counted by user (and with --kernel, kernel) stack and process — the
 * chapter's faults/stackcount on page_fault_user: the code paths that first touched memory,
 * which is what grows RSS. */
#include "stacks.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_stack_key);
	__type(value, __u64);
	__uint(max_entries, 65536);
} fault_counts SEC(".maps");

static __always_inline int count_fault(void *ctx, bool kernel)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid && ms_traced(tgid)) {
		ms_count_stack_unwind(&fault_counts, ctx, tgid, kernel, 1);
		ms_cgroup_add(MS_CG_FAULTS, 1);
	}
	return 0;
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

/* the perf software event counts faults in either mode; user stacks only */
SEC("perf_event")
int fault_perf(struct bpf_perf_event_data *ctx)
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
