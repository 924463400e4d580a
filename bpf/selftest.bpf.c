// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The engine's own test object (no tool uses it): a uprobe, a USDT probe, constants, globals,
 * a hash map, a per-CPU array and a ring buffer, so test/engine.test.ts can prove each addon path directly. */
#include "memscope.h"
#include <bpf/usdt.bpf.h>

const volatile __u64 magic = 0;
__u64 uprobe_hits = 0;
__u64 usdt_hits = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u64);
	__uint(max_entries, 1024);
} seen_args SEC(".maps");

/* written from userspace only: a per-CPU array read whole (BpfObject.slots) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 64);
} cpu_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} arg_events SEC(".maps");

SEC("uprobe")
int selftest_uprobe(struct pt_regs *ctx)
{
	if (!ms_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	__u64 arg = PT_REGS_PARM1(ctx);
	__u64 value = magic + arg;
	__sync_fetch_and_add(&uprobe_hits, 1);
	bpf_map_update_elem(&seen_args, &arg, &value, BPF_ANY);
	bpf_ringbuf_output(&arg_events, &arg, sizeof(arg), ms_ring_flags(&arg_events));
	return 0;
}

SEC("usdt")
int selftest_usdt(struct pt_regs *ctx)
{
	if (ms_traced(bpf_get_current_pid_tgid() >> 32))
		__sync_fetch_and_add(&usdt_hits, 1);
	return 0;
}
