// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* compaction: time spent in page compaction (the chapter's exercise): each compact_zone() run
 * from mm_compaction_begin to mm_compaction_end, per event and as a log2 histogram of microseconds. */
#include "latency.h"

MS_STARTS_MAP(starts);

struct compaction_event {
	__u64 ts;        /* at the end */
	__u64 lat_ns;
	__u64 zone_start;
	__u64 zone_end;
	__u32 tgid;
	__u32 tid;
	__s32 status;
	__u32 sync;
	char comm[TASK_COMM_LEN];
};
MS_BTF_TYPE(compaction_event);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* log2 histogram of microseconds, index = bucket */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 64);
} hist_us SEC(".maps");

/* the runs' nanoseconds summed (slot 0), beside the histogram: a histogram's sum read at the same
 * moment as its buckets (the agent's memscope_compaction_seconds), never from the ring, whose
 * events are read later and can be lost */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} total_ns SEC(".maps");

/* false: no per-event records (the agent reads only the maps; a ring no one reads fills, and each
 * event would then count as lost) */
const volatile bool send_events = true;

static __always_inline void on_begin(void)
{
	if (ms_traced(bpf_get_current_pid_tgid() >> 32))
		ms_latency_begin(&starts, 0);
}

static __always_inline void on_end(__u64 zone_start, __u64 zone_end, bool sync, int status)
{
	__u64 lat = ms_latency_end(&starts, 0);
	if (!lat)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns();
	ms_hist_add(&hist_us, 0, lat / 1000);
	__u32 zero = 0;
	__u64 *total = bpf_map_lookup_elem(&total_ns, &zero);
	if (total)
		__sync_fetch_and_add(total, lat);
	if (!send_events)
		return;
	struct compaction_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		ms_count_lost();
		return;
	}
	e->ts = now;
	e->lat_ns = lat;
	e->zone_start = zone_start;
	e->zone_end = zone_end;
	e->tgid = id >> 32;
	e->tid = tid;
	e->status = status;
	e->sync = sync;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/mm_compaction_begin")
int BPF_PROG(compaction_begin_btf, struct compact_control *cc, unsigned long zone_start, unsigned long zone_end, bool sync)
{
	on_begin();
	return 0;
}

SEC("tp_btf/mm_compaction_end")
int BPF_PROG(compaction_end_btf, struct compact_control *cc, unsigned long zone_start, unsigned long zone_end, bool sync, int status)
{
	on_end(zone_start, zone_end, sync, status);
	return 0;
}

SEC("tracepoint/compaction/mm_compaction_begin")
int compaction_begin_tp(void *ctx)
{
	on_begin();
	return 0;
}

SEC("tracepoint/compaction/mm_compaction_end")
int compaction_end_tp(struct trace_event_raw_mm_compaction_end *ctx)
{
	on_end(ctx->zone_start, ctx->zone_end, ctx->sync, ctx->status);
	return 0;
}
