/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Durations of kernel operations reported by begin/end tracepoint pairs (reclaim, shrink_slab,
 * compaction): the begin stores a timestamp per thread and kind, the end takes it back. */
#ifndef MEMSCOPE_LATENCY_H
#define MEMSCOPE_LATENCY_H

#include "memscope.h"

/* Start times keyed by (thread id, kind). */
#define MS_STARTS_MAP(name)                              \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_HASH);         \
		__type(key, __u64);                      \
		__type(value, __u64);                    \
		__uint(max_entries, 10240);              \
	} name SEC(".maps")

static __always_inline __u64 ms_start_key(__u32 kind)
{
	return ((__u64)(__u32)bpf_get_current_pid_tgid() << 8) | kind;
}

static __always_inline void ms_latency_begin(void *starts, __u32 kind)
{
	__u64 key = ms_start_key(kind), now = bpf_ktime_get_ns();
	bpf_map_update_elem(starts, &key, &now, BPF_ANY);
}

/* The time since this thread's begin of `kind`, or 0 when the begin was not seen. */
static __always_inline __u64 ms_latency_end(void *starts, __u32 kind)
{
	__u64 key = ms_start_key(kind);
	__u64 *ts = bpf_map_lookup_elem(starts, &key);
	if (!ts)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - *ts;
	bpf_map_delete_elem(starts, &key);
	return delta;
}

/* Counts value in a log2 histogram kept in an array map, at slots base + bucket. */
static __always_inline void ms_hist_add(void *hist, __u32 base, __u64 value)
{
	__u32 idx = base + ms_log2_bucket(value);
	__u64 *c = bpf_map_lookup_elem(hist, &idx);
	if (c)
		__sync_fetch_and_add(c, 1);
}

#endif
