// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* swapthrash: how long pages stay out on swap before they are needed again (the chapter's
 * unsolved exercise). A page is identified by its swap entry (swp_entry_t: swap device + slot):
 *  - swap-out: tp_btf mm_vmscan_write_folio, a folio in the swap cache being written by reclaim;
 *    its folio->swap is the entry it goes to. The time is stored under the entry (every process:
 *    reclaim often runs in another task than the page's owner).
 *  - swap-in: tp_btf mm_lru_insertion, a folio read back into the swap cache (swap-backed, with
 *    folio->swap set) entering the LRU right before its read; the entry finds the swap-out time.
 * The time in between, per process that swapped the page in, goes to a log2 histogram (usecs).
 * PSWPIN from count_memcg_events counts the pages actually read from swap, as a cross-check. */
#include "memscope.h"

struct out_rec {
	__u64 ts;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64); /* swp_entry_t.val */
	__type(value, struct out_rec);
	__uint(max_entries, 262144);
} swapped_out SEC(".maps");

struct hist_key {
	__u32 tgid;
	__u32 bucket;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct hist_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} thrash_hist SEC(".maps");

struct proc_key {
	__u32 tgid;
	char comm[TASK_COMM_LEN];
};

struct proc_stats {
	__u64 matched;  /* swap-ins matched to a swap-out */
	__u64 total_ns; /* their time out */
	__u64 pswpin;   /* pages read from swap (PSWPIN) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct proc_key);
	__type(value, struct proc_stats);
	__uint(max_entries, 16384);
} procs SEC(".maps");

__u64 swap_outs = 0;

static __always_inline __u64 folio_flags(struct folio *folio)
{
	__u64 flags = 0;
	/* flags is the first word of struct folio, a plain unsigned long or (6.18) memdesc_flags_t */
	bpf_probe_read_kernel(&flags, sizeof(flags), __builtin_preserve_access_index(&folio->flags));
	return flags;
}

static __always_inline struct proc_stats *proc_entry(__u32 tgid)
{
	struct proc_key k = { .tgid = tgid };
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	struct proc_stats *s = bpf_map_lookup_elem(&procs, &k);
	if (s)
		return s;
	struct proc_stats zero = {};
	bpf_map_update_elem(&procs, &k, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&procs, &k);
}

SEC("tp_btf/mm_vmscan_write_folio")
int BPF_PROG(thrash_swap_out, struct folio *folio)
{
	__u64 flags = folio_flags(folio);
	if (!(flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_swapcache))))
		return 0; /* a file page being written back, not a swap-out */
	__u64 entry = BPF_CORE_READ(folio, swap.val);
	if (!entry)
		return 0;
	struct out_rec r = { .ts = bpf_ktime_get_ns() };
	bpf_map_update_elem(&swapped_out, &entry, &r, BPF_ANY);
	__sync_fetch_and_add(&swap_outs, 1);
	return 0;
}

SEC("tp_btf/mm_lru_insertion")
int BPF_PROG(thrash_swap_in, struct folio *folio)
{
	__u64 flags = folio_flags(folio);
	if (!(flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_swapbacked))))
		return 0;
	__u64 entry = BPF_CORE_READ(folio, swap.val);
	if (!entry)
		return 0;
	struct out_rec *r = bpf_map_lookup_elem(&swapped_out, &entry);
	if (!r)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - r->ts;
	bpf_map_delete_elem(&swapped_out, &entry);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ms_traced(tgid))
		return 0;
	struct hist_key hk = { .tgid = tgid, .bucket = ms_log2_bucket(delta / 1000) };
	bpf_get_current_comm(hk.comm, sizeof(hk.comm));
	ms_map_add(&thrash_hist, &hk, 1);
	struct proc_stats *s = proc_entry(tgid);
	if (s) {
		__sync_fetch_and_add(&s->matched, 1);
		__sync_fetch_and_add(&s->total_ns, delta);
	}
	return 0;
}

static __always_inline void count_pswpin(int item, __u64 val)
{
	if (item != bpf_core_enum_value(enum vm_event_item, PSWPIN))
		return;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ms_traced(tgid))
		return;
	struct proc_stats *s = proc_entry(tgid);
	if (s)
		__sync_fetch_and_add(&s->pswpin, val);
}

SEC("tp_btf/count_memcg_events")
int BPF_PROG(thrash_pswpin_btf, struct mem_cgroup *memcg, int item, unsigned long val)
{
	count_pswpin(item, val);
	return 0;
}

SEC("tracepoint/memcg/count_memcg_events")
int thrash_pswpin_tp(struct trace_event_raw_memcg_rstat_events *ctx)
{
	count_pswpin(ctx->item, ctx->val);
	return 0;
}
