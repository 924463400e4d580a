// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* swapin: pages swapped in, counted by process (the book's swapin.bt). The book traced
 * swap_readpage() with a kprobe; here the PSWPIN event counted into the memory cgroup of the page
 * (memcg:count_memcg_events, item PSWPIN): it is counted per page read from swap, in the context of
 * the task that faulted, and sums exactly to /proc/vmstat pswpin. Pages brought back from zswap
 * (compressed memory) are counted too, apart (ZSWPIN, /proc/vmstat zswpin): swap_readpage() saw
 * both. */
#include "memscope.h"

struct swapin_key {
	__u32 pid;   /* tgid */
	__u32 zswap; /* 1: from zswap, 0: read from a swap device */
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct swapin_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} swapins SEC(".maps");

/* 0: PSWPIN (a page read from a swap device), 1: ZSWPIN (from zswap), -1: another memcg event.
 * The program runs for every memcg event, each page fault's PGFAULT among them, so this test comes
 * before anything else is read (the memcg's id first cost three kernel reads on every fault). */
static __always_inline int swapin_kind(int item)
{
	if (item == bpf_core_enum_value(enum vm_event_item, PSWPIN))
		return 0;
	if (bpf_core_enum_value_exists(enum vm_event_item, ZSWPIN) &&
	    item == bpf_core_enum_value(enum vm_event_item, ZSWPIN))
		return 1;
	return -1;
}

/* Counts the pages for the current process; true when its memory cgroup's total (swap devices
 * only) is to be added to as well. */
static __always_inline bool count(int zswap, __u64 pages)
{
	struct swapin_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .zswap = zswap };
	if (!ms_traced(key.pid))
		return false;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	ms_map_add(&swapins, &key, pages);
	return ms_by_cgroup && !zswap;
}

/* The agent: page faults counted by memory cgroup here too (MS_CG_FAULTS), from the PGFAULT
 * event this program already runs for on every fault: the memcg argument is the faulting mm's memory
 * cgroup (cgroup v1 and v2), and the count is the cgroup's memory.stat pgfault: one per fault as
 * it completes or fails (mm_account_fault: a fault retried with the mmap lock dropped counts once,
 * as min_flt does; faults the kernel takes on user memory and get_user_pages' count), every task of
 * the cgroup, memscope's own included. The faults object then needs no run per
 * fault for them (bpf/faults.bpf.c fault_period_weights). */
const volatile bool count_pgfault = false;

SEC("tp_btf/count_memcg_events")
int BPF_PROG(swapin_memcg_btf, struct mem_cgroup *memcg, int item, unsigned long val)
{
	if (count_pgfault && item == bpf_core_enum_value(enum vm_event_item, PGFAULT)) {
		ms_cgroup_add_id(MS_CG_FAULTS, BPF_CORE_READ(memcg, css.cgroup, kn, id), val);
		return 0;
	}
	int zswap = swapin_kind(item);
	if (zswap >= 0 && count(zswap, val))
		ms_cgroup_add_id(MS_CG_SWAPIN, BPF_CORE_READ(memcg, css.cgroup, kn, id), val);
	return 0;
}

SEC("tracepoint/memcg/count_memcg_events")
int swapin_memcg_tp(struct trace_event_raw_memcg_rstat_events *ctx)
{
	if (count_pgfault && ctx->item == bpf_core_enum_value(enum vm_event_item, PGFAULT)) {
		ms_cgroup_add_id(MS_CG_FAULTS, ctx->id, ctx->val);
		return 0;
	}
	int zswap = swapin_kind(ctx->item);
	__u64 val = ctx->val;
	if (zswap >= 0 && count(zswap, val))
		ms_cgroup_add_id(MS_CG_SWAPIN, ctx->id, val);
	return 0;
}
