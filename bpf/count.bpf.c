// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* count: events per probe (BCC funccount, bpftrace @[probe] = count()) on any tracepoints,
 * software events and uprobes given at run time. One generic program per probe kind; the attach cookie is the
 * probe's index. With by_process, counts are kept per (probe, process) instead. */
#include "memscope.h"
#ifndef MS_LEAN
#include <bpf/usdt.bpf.h>
#endif

const volatile bool by_process = false;

struct count_key {
	__u32 probe;
	__u32 tgid;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct count_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} counts SEC(".maps");

static __always_inline int count_probe(__u32 probe)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ms_traced(tgid))
		return 0;
	struct count_key key = { .probe = probe };
	if (by_process) {
		key.tgid = tgid;
		bpf_get_current_comm(key.comm, sizeof(key.comm));
	}
	ms_map_add(&counts, &key, 1);
	return 0;
}

SEC("tracepoint")
int count_tp(void *ctx)
{
	return count_probe((__u32)bpf_get_attach_cookie(ctx));
}

SEC("perf_event")
int count_sw(struct bpf_perf_event_data *ctx)
{
	return count_probe((__u32)bpf_get_attach_cookie(ctx));
}

SEC("uprobe")
int count_uprobe(struct pt_regs *ctx)
{
	return count_probe((__u32)bpf_get_attach_cookie(ctx));
}

/* USDT probes: libbpf keeps the attach cookie for the argument specs; ours is bpf_usdt_cookie's.
 * Not in count-lean.bpf.o (this file built with MS_LEAN, for runs with no USDT probe and no
 * --cgroup): usdt.bpf.h and the cgroup filter read kernel structs with CO-RE relocations, and an
 * object with any makes libbpf parse all 5 MB of kernel BTF at load, used or not (it was a third
 * of `count 't:vmscan:*'`'s load). */
#ifndef MS_LEAN
SEC("usdt")
int count_usdt(struct pt_regs *ctx)
{
	return count_probe((__u32)bpf_usdt_cookie(ctx));
}
#endif

/* Raw tracepoints for the first RAW_SLOTS probes that are real tracepoints: their links detach at
 * once, where a classic tracepoint's costs a grace period (~70 ms each here). libbpf 1.1 cannot
 * give a raw tracepoint a cookie, so slot N is a program of its own that reports probe N. */
#define RAW_SLOT(n) \
	SEC("raw_tp") int count_raw_##n(void *ctx) { return count_probe(n); }
#include "raw-slots.h"

