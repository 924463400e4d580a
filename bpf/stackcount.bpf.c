/* stackcount: events of run-time probes (tracepoints, software events) counted by user and/or
 * kernel stack and process (BCC stackcount, bpftrace @[ustack, comm] = count()). */
#include "stacks.h"

const volatile bool user_stacks = true;
const volatile bool kernel_stacks = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_stack_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} stack_counts SEC(".maps");

static __always_inline int count_stack(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (ms_traced(tgid))
		ms_count_stack(&stack_counts, ctx, tgid, user_stacks, kernel_stacks, 1);
	return 0;
}

SEC("tracepoint")
int stackcount_tp(void *ctx)
{
	return count_stack(ctx);
}

SEC("perf_event")
int stackcount_sw(struct bpf_perf_event_data *ctx)
{
	return count_stack(ctx);
}

SEC("uprobe")
int stackcount_uprobe(struct pt_regs *ctx)
{
	return count_stack(ctx);
}

/* Raw tracepoints (fast to detach) for probes that are real tracepoints: all counted together,
 * so one program would do, but each probe gets its own slot as in count.bpf.c. */
#define RAW_SLOT(n) \
	SEC("raw_tp") int stackcount_raw_##n(void *ctx) { return count_stack(ctx); }
#include "raw-slots.h"

