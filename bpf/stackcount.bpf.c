// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* stackcount: events of run-time probes (tracepoints, software events) counted by user and/or
 * kernel stack and process (BCC stackcount, bpftrace @[ustack, comm] = count()). */
#include "stacks.h"
#include <bpf/usdt.bpf.h>

const volatile bool user_stacks = true;
const volatile bool kernel_stacks = false;
const volatile __s32 targ_cpu = -1; /* -c CPU (BCC): events on this CPU only */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_stack_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} stack_counts SEC(".maps");

/* The DWARF capture (--unwind dwarf|auto) as one subprogram: the object holds it once, not in each of
 * the 67 programs, and libbpf links it only into the programs that are loaded. Returns 0 when the
 * sample went to the ring; otherwise (the rate, a full ring) the caller counts the event by frame
 * pointers, as ms_count_stack_unwind does, but from the program itself: that walk's subprogram and
 * its two callbacks under this one's frame came to more than the verifier's 512 bytes of calls
 * (on kernel 6.18.44: "combined stack size of 3 calls is 544. Too large"). */
static __noinline int count_stack_dwarf(void *ctx, __u32 tgid)
{
	__sync_fetch_and_add(&ms_events_seen, 1);
	ms_note_process(tgid);
	return ms_dwarf_sample(ctx, tgid, kernel_stacks, 1);
}

/* Counting by frame pointers, a subprogram too: its key and walk state leave the programs' own
 * frames, which the DWARF path's calls sit on. */
static __noinline int count_stack_fp(void *ctx, __u32 tgid, bool entry)
{
	ms_count_stack_at(&stack_counts, ctx, tgid, user_stacks, kernel_stacks, 1, entry);
	return 0;
}

static __always_inline int count_stack_at(void *ctx, bool entry)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ms_traced(tgid))
		return 0;
	if (targ_cpu >= 0 && bpf_get_smp_processor_id() != (__u32)targ_cpu)
		return 0;
	/* --unwind dwarf|auto: the user stack goes to the DWARF sample ring (stacks.h); with fp
	 * (ms_unwind is const) the verifier skips this branch */
	if (user_stacks && ms_unwind != MS_UNWIND_FP) {
		if (count_stack_dwarf(ctx, tgid) == 0)
			return 0;
		entry = false; /* as ms_count_stack_unwind's fallback */
	}
	return count_stack_fp(ctx, tgid, entry);
}

static __always_inline int count_stack(void *ctx)
{
	return count_stack_at(ctx, false);
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

/* uprobes and uretprobes: a uprobe stops at its probe's address, where at a function's first
 * instruction the caller is found at [sp] (stacks.h); a uretprobe's instruction pointer is the
 * caller's next instruction. Told apart by the probe's address (bpf_get_func_ip), not by reading
 * the instruction (an int3, or a call once the kernel optimizes the probe): no stack for it, in a
 * program whose calls are at the verifier's 512-byte limit. */
SEC("uprobe")
int stackcount_uprobe(struct pt_regs *ctx)
{
	return count_stack_at(ctx, PT_REGS_IP(ctx) == bpf_get_func_ip(ctx));
}

SEC("usdt")
int stackcount_usdt(struct pt_regs *ctx)
{
	return count_stack(ctx);
}

/* Raw tracepoints (fast to detach) for probes that are real tracepoints: all counted together,
 * so one program would do, but each probe gets its own slot as in count.bpf.c. */
#define RAW_SLOT(n) \
	SEC("raw_tp") int stackcount_raw_##n(void *ctx) { return count_stack(ctx); }
#include "raw-slots.h"

