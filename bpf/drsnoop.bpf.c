// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* drsnoop: one record per reclaim a task had to do itself (the book's drsnoop): direct reclaim
 * (the system is short of free pages) and memcg reclaim (its memory cgroup is at its limit; on
 * cgroup v1 and v2 alike this is reported only by the memcg_reclaim tracepoints). */
#include "latency.h"

enum { KIND_DIRECT = 1, KIND_MEMCG = 2 };

struct reclaim_event {
	__u64 ts;       /* end, bpf_ktime_get_ns */
	__u64 lat_ns;
	__u64 nr_reclaimed;
	__u32 pid;      /* tgid */
	__u32 tid;
	__u32 kind;
	__u32 uid;
	__u64 free_pages; /* free pages system-wide at the end (-e), 0 when not read */
	char comm[TASK_COMM_LEN];
};
MS_BTF_TYPE(reclaim_event);

/* -e: the address of the kernel's vm_zone_stat array (from kallsyms, as BCC's drsnoop finds it; it
 * is not in this kernel's BTF); its NR_FREE_PAGES entry is the system's free page count */
const volatile __u64 vm_zone_stat_addr = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} reclaim_events SEC(".maps");

MS_STARTS_MAP(starts);

static __always_inline void begin(__u32 kind)
{
	if (ms_traced(bpf_get_current_pid_tgid() >> 32))
		ms_latency_begin(&starts, kind);
}

static __always_inline void end(__u32 kind, __u64 nr_reclaimed)
{
	__u64 lat = ms_latency_end(&starts, kind);
	if (!lat)
		return;
	if (ms_by_cgroup) {
		/* the agent: the time tasks of each memory cgroup stalled in reclaim, no record per reclaim */
		ms_cgroup_add(MS_CG_RECLAIM_STALL_NS, lat);
		ms_cgroup_add(MS_CG_RECLAIM_STALLS, 1);
		return;
	}
	__u64 id = bpf_get_current_pid_tgid();
	struct reclaim_event *e = bpf_ringbuf_reserve(&reclaim_events, sizeof(*e), 0);
	if (!e) {
		ms_count_lost();
		return;
	}
	e->ts = bpf_ktime_get_ns();
	e->lat_ns = lat;
	e->nr_reclaimed = nr_reclaimed;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->kind = kind;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->free_pages = 0;
	if (vm_zone_stat_addr) {
		__s64 v = 0;
		bpf_probe_read_kernel(&v, sizeof(v), (void *)(vm_zone_stat_addr + 8 * bpf_core_enum_value(enum zone_stat_item, NR_FREE_PAGES)));
		e->free_pages = v > 0 ? v : 0;
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(dr_direct_begin_btf)
{
	begin(KIND_DIRECT);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(dr_direct_end_btf, unsigned long nr_reclaimed)
{
	end(KIND_DIRECT, nr_reclaimed);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(dr_memcg_begin_btf)
{
	begin(KIND_MEMCG);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(dr_memcg_end_btf, unsigned long nr_reclaimed)
{
	end(KIND_MEMCG, nr_reclaimed);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_begin")
int dr_direct_begin_tp(void *ctx)
{
	begin(KIND_DIRECT);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_end")
int dr_direct_end_tp(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	end(KIND_DIRECT, BPF_CORE_READ(ctx, nr_reclaimed));
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_begin")
int dr_memcg_begin_tp(void *ctx)
{
	begin(KIND_MEMCG);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_end")
int dr_memcg_end_tp(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	end(KIND_MEMCG, BPF_CORE_READ(ctx, nr_reclaimed));
	return 0;
}
