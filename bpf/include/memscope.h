/* Common kernel-side definitions for every memscope BPF program.
 * Filters are `const volatile` so userspace sets them before load and the verifier prunes
 * the branches they switch off: filtered-out events cost almost nothing. */
#ifndef MEMSCOPE_H
#define MEMSCOPE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define TASK_COMM_LEN 16

/* 0 traces every process; otherwise only this thread group (process). */
const volatile __u32 targ_tgid = 0;

/* Events dropped because a ring buffer or map was full; userspace reports it. */
__u64 lost_events = 0;

static __always_inline bool ms_traced(__u32 tgid)
{
	return targ_tgid == 0 || tgid == targ_tgid;
}

static __always_inline void ms_count_lost(void)
{
	__sync_fetch_and_add(&lost_events, 1);
}

/* Adds delta to the u64 counter at key, creating it on first use. */
static __always_inline void ms_map_add(void *map, const void *key, __u64 delta)
{
	__u64 *v = bpf_map_lookup_elem(map, key);
	if (v) {
		__sync_fetch_and_add(v, delta);
		return;
	}
	__u64 init = delta;
	if (bpf_map_update_elem(map, key, &init, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(map, key);
		if (v)
			__sync_fetch_and_add(v, delta);
		else
			ms_count_lost();
	}
}

char LICENSE[] SEC("license") = "GPL";

#endif
