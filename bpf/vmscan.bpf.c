// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* vmscan: time in shrink_slab, direct reclaim and memcg reclaim, kswapd wakeups and page writes
 * (the book's vmscan.bt), from the vmscan tracepoints. Totals are per-CPU counters read by
 * userspace every interval; per-event times go into log2 histograms here. */
#include "latency.h"

/* Set by userspace: also sum shrink_slab time by shrinker function (--by-shrinker). */
const volatile bool by_shrinker = false;

enum { K_SLAB, K_DIRECT, K_MEMCG, NKINDS };

/* slots of the totals map */
enum {
	T_SLAB_NS, T_DIRECT_NS, T_MEMCG_NS, /* time, indexed by kind */
	T_SLAB_N, T_DIRECT_N, T_MEMCG_N,    /* completed events, indexed by T_SLAB_N + kind */
	T_KSWAPD_WAKE, T_WRITEPAGE,
	NTOTALS
};

#define NBUCKETS 64

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, NTOTALS);
} totals SEC(".maps");

/* log2 histogram of event times (ns) per kind: index kind * NBUCKETS + bucket */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, NKINDS * NBUCKETS);
} hists SEC(".maps");

MS_STARTS_MAP(starts);

struct shrinker_stat {
	__u64 ns;
	__u64 calls;
	__u64 freed;
};

/* by shrinker function address (shrinker->scan_objects) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct shrinker_stat);
	__uint(max_entries, 4096);
} shrinkers SEC(".maps");

static __always_inline void add_total(__u32 slot, __u64 delta)
{
	__u64 *v = bpf_map_lookup_elem(&totals, &slot);
	if (v)
		*v += delta; /* per-CPU slot: no other writer */
}

/* --cgroup/--container: reclaim done by (and kswapd woken by, pages written by) a task in the
 * cgroup; kswapd's own reclaim is the root cgroup's. A reclaim whose begin was not kept has no
 * start, so its end is not counted either. */
static __always_inline void begin(__u32 kind)
{
	if (ms_cgroup_traced())
		ms_latency_begin(&starts, kind);
}

static __always_inline void add_event(__u32 slot)
{
	if (ms_cgroup_traced())
		add_total(slot, 1);
}

/* Ends an event of this thread; returns its duration, or 0 when its start was not seen. */
static __always_inline __u64 end(__u32 kind)
{
	__u64 delta = ms_latency_end(&starts, kind);
	if (!delta)
		return 0;
	add_total(T_SLAB_NS + kind, delta);
	add_total(T_SLAB_N + kind, 1);
	ms_hist_add(&hists, kind * NBUCKETS, delta);
	return delta;
}

static __always_inline void slab_end(__u64 fn, long freed)
{
	__u64 delta = end(K_SLAB);
	if (!by_shrinker || !delta)
		return;
	struct shrinker_stat *s = bpf_map_lookup_elem(&shrinkers, &fn);
	if (!s) {
		struct shrinker_stat zero = {};
		bpf_map_update_elem(&shrinkers, &fn, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&shrinkers, &fn);
		if (!s) {
			ms_count_lost();
			return;
		}
	}
	__sync_fetch_and_add(&s->ns, delta);
	__sync_fetch_and_add(&s->calls, 1);
	if (freed > 0)
		__sync_fetch_and_add(&s->freed, freed);
}

/* tp_btf: the tracepoints' raw arguments */

SEC("tp_btf/mm_shrink_slab_start")
int BPF_PROG(vs_slab_start_btf)
{
	begin(K_SLAB);
	return 0;
}

SEC("tp_btf/mm_shrink_slab_end")
int BPF_PROG(vs_slab_end_btf, struct shrinker *shr, int nid, int shrinker_retval)
{
	slab_end((__u64)BPF_CORE_READ(shr, scan_objects), shrinker_retval);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(vs_direct_begin_btf)
{
	begin(K_DIRECT);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(vs_direct_end_btf)
{
	end(K_DIRECT);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(vs_memcg_begin_btf)
{
	begin(K_MEMCG);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(vs_memcg_end_btf)
{
	end(K_MEMCG);
	return 0;
}

SEC("tp_btf/mm_vmscan_wakeup_kswapd")
int BPF_PROG(vs_kswapd_btf)
{
	add_event(T_KSWAPD_WAKE);
	return 0;
}

SEC("tp_btf/mm_vmscan_write_folio")
int BPF_PROG(vs_write_btf)
{
	add_event(T_WRITEPAGE);
	return 0;
}

/* classic tracepoints: the same events through their recorded fields */

SEC("tracepoint/vmscan/mm_shrink_slab_start")
int vs_slab_start_tp(void *ctx)
{
	begin(K_SLAB);
	return 0;
}

SEC("tracepoint/vmscan/mm_shrink_slab_end")
int vs_slab_end_tp(struct trace_event_raw_mm_shrink_slab_end *ctx)
{
	slab_end((__u64)BPF_CORE_READ(ctx, shrink), BPF_CORE_READ(ctx, retval));
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_begin")
int vs_direct_begin_tp(void *ctx)
{
	begin(K_DIRECT);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_end")
int vs_direct_end_tp(void *ctx)
{
	end(K_DIRECT);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_begin")
int vs_memcg_begin_tp(void *ctx)
{
	begin(K_MEMCG);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_end")
int vs_memcg_end_tp(void *ctx)
{
	end(K_MEMCG);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_wakeup_kswapd")
int vs_kswapd_tp(void *ctx)
{
	add_event(T_KSWAPD_WAKE);
	return 0;
}

/* mm_vmscan_writepage before 5.19 */
SEC("tracepoint/vmscan/mm_vmscan_write_folio")
int vs_write_tp(void *ctx)
{
	add_event(T_WRITEPAGE);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_writepage")
int vs_writepage_tp(void *ctx)
{
	add_event(T_WRITEPAGE);
	return 0;
}
