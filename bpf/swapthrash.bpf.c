// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* swapthrash: how long pages stay out on swap before they are needed again (the chapter's
 * unsolved exercise). A page is identified by its swap entry (swp_entry_t: swap device + slot):
 *  - swap-out: tp_btf mm_vmscan_write_folio, a folio in the swap cache being written by reclaim;
 *    its folio->swap is the entry it goes to. The time is stored under the entry (every process:
 *    reclaim often runs in another task than the page's owner).
 *  - swap-in: tp_btf mm_lru_insertion, a folio read back into the swap cache (swap-backed, with
 *    folio->swap set) entering the LRU right before its read; the entry finds the swap-out time.
 * The time in between, per process that swapped the page in, goes to a log2 histogram (usecs).
 *  - large folios (mTHP, THP): written out whole to contiguous entries (folio->swap + i for page
 *    i), so write_folio stamps one record per page; a swap-in counts pages, not folios, as the
 *    kernel's PSWPIN does, each page matched under its own entry (a 64 kB folio that went out
 *    whole may come back as 16 single pages, and the other way round).
 *  - swap-ins that skip the swap cache: on a SWP_SYNCHRONOUS_IO device (zram) do_swap_page reads
 *    an entry used once into a new folio, large (mTHP) or not, that is never in the swap cache; it
 *    enters the LRU before folio->swap is set, so mm_lru_insertion cannot see it. Its read is a
 *    bio submitted by the faulting task with folio->swap set: tp_btf block_bio_queue, a read of a
 *    swap-backed folio not in the swap cache. Its entries are freed right after, so no drop.
 *  - drop: a folio swapped in keeps its entry in the swap cache while it is only read, so reclaim
 *    later frees it clean, without a write (no write_folio). The swap-in leaves the entry's record
 *    saying "in memory as folio F" and folio_entry maps F -> entry; when F is freed (kmem
 *    mm_page_free, every path that frees a page, reclaim's free_unref_folios included) the record
 *    gets its out-time, if it still names F. A write_folio of the entry resets the record, so a
 *    stale F can never stamp an entry that another folio went out to since.
 *  - migration: compaction (or any migrate_pages() caller) moves a swap-cache folio F to a new
 *    folio D: D takes F's place in the swap cache, folio_add_lru(D) queues D's LRU insertion in a
 *    per-CPU batch, then F is freed, all inside migrate_pages(). Neither event says "migration"
 *    (at the free F has lost PG_swapcache and folio->swap like a folio reclaim dropped), so the
 *    task's migrate_pages() window (migrate:mm_migrate_pages_start .. mm_migrate_pages) decides:
 *    a free of F inside it marks the record "moved from F" (MOVED), not a drop, and the entry's
 *    next insertion (D's: no other folio can enter the swap cache for the entry while D is in it)
 *    takes the record over uncounted. When the batch was full, D's insertion comes first, still in
 *    the window, while the record names F: taken over uncounted too. If another task drains the
 *    batch before F is freed (the migrating task preempted in between), D's insertion is counted
 *    "not seen" and remembers F (prev); F's free in the window then takes that count back. Without this each moved
 *    folio was one false swap-in (matched with a time out of microseconds, or "not seen"): 1,165
 *    too many of 82,009 with memory compacted in a loop. What it can still miss, and how it shows:
 *    F freed after the window by another holder's last reference (stamped a drop: D's insertion
 *    matched), or a window end not seen (that task's later drops taken for moves: its pages' next
 *    swap-ins not counted); a real swap-in of an entry whose drop was missed, inserted by a batch
 *    drained inside a window, is taken for a move. Every takeover is counted (swapcache_moves),
 *    not hidden.
 * A swap-in whose entry has no out-time (out before memscope started, or a drop not seen) is
 * counted as "swap-out not seen", never silently left out. The kernel's own swap-in counts from
 * count_memcg_events are the cross-check: PSWPIN (read from the device), SWPIN_ZERO (a zero page,
 * never written to the device: 6.12+ zeromap) and ZSWPIN (from zswap), each if the kernel has it. */
#include "memscope.h"

struct out_rec {
	__u64 ts;    /* when it went out (reclaim wrote it, or dropped the clean folio F) */
	__u64 folio; /* 0: out since ts; else swapped in and in memory as this folio; with MOVED:
		      * that folio was freed by a migration, its copy's insertion is to come */
	/* the folio this one displaced while still allocated, counted "not seen" for charged_tgid:
	 * if it is freed inside a migration window, the insertion was its copy's (see the top) */
	__u64 prev;
	__u32 charged_tgid;
	char charged_comm[TASK_COMM_LEN];
};

#define MOVED 1ULL /* struct folio is word-aligned: bit 0 of a folio pointer is free */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64); /* swp_entry_t.val */
	__type(value, struct out_rec);
	__uint(max_entries, 262144);
} swapped_out SEC(".maps");

/* folio -> the entry it was swapped in from, while the folio is in memory (a bound: pages swapped
 * in and still resident; the oldest are forgotten first, they then count as "not seen") */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64);   /* struct folio * */
	__type(value, __u64); /* swp_entry_t.val */
	__uint(max_entries, 262144);
} folio_entry SEC(".maps");

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
	__u64 unseen;   /* swap-ins with no swap-out time: out before we started, or a drop missed */
	__u64 pswpin;   /* the kernel's swap-ins: read from the device (PSWPIN), */
	__u64 swpin_zero; /* a zero page, never written (SWPIN_ZERO, 6.12+), */
	__u64 zswpin;   /* from zswap (ZSWPIN) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct proc_key);
	__type(value, struct proc_stats);
	__uint(max_entries, 16384);
} procs SEC(".maps");

/* tasks inside migrate_pages(): tid -> 1 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 4096);
} migrating SEC(".maps");

#define MAX_FOLIO_ORDER 9 /* a PMD THP: the largest folio swap writes whole */

__u64 swap_outs = 0; /* pages */
__u64 swapcache_moves = 0; /* swap-cache folios followed to their copy through a migration */

static __always_inline bool in_migration(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	return bpf_map_lookup_elem(&migrating, &tid) != NULL;
}

SEC("tp_btf/mm_migrate_pages_start")
int BPF_PROG(thrash_migrate_start)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 one = 1;
	bpf_map_update_elem(&migrating, &tid, &one, BPF_ANY);
	return 0;
}

SEC("tp_btf/mm_migrate_pages")
int BPF_PROG(thrash_migrate_end)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&migrating, &tid);
	return 0;
}

static __always_inline __u64 folio_flags(struct folio *folio)
{
	__u64 flags = 0;
	/* flags is the first word of struct folio, a plain unsigned long or (6.18) memdesc_flags_t */
	bpf_probe_read_kernel(&flags, sizeof(flags), __builtin_preserve_access_index(&folio->flags));
	return flags;
}

/* pages in a folio: 1 << folio_order(), kept in the low byte of the second page's flags word */
static __always_inline __u32 folio_pages(struct folio *folio, __u64 flags)
{
	if (!(flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_head))))
		return 1;
	__u64 order = BPF_CORE_READ(folio, _flags_1) & 0xff;
	return order > MAX_FOLIO_ORDER ? 1U << MAX_FOLIO_ORDER : 1U << order;
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

struct out_loop {
	__u64 entry;
	__u64 ts;
};

static long stamp_out(__u64 i, struct out_loop *l)
{
	__u64 e = l->entry + i;
	struct out_rec r = { .ts = l->ts };
	bpf_map_update_elem(&swapped_out, &e, &r, BPF_ANY);
	return 0;
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
	/* every page of a large folio under its own entry: it may come back page by page */
	__u32 nr = folio_pages(folio, flags);
	struct out_loop l = { .entry = entry, .ts = bpf_ktime_get_ns() };
	bpf_loop(nr, stamp_out, &l, 0);
	__u64 f = (__u64)folio;
	bpf_map_delete_elem(&folio_entry, &f); /* written out again: its swap-in's entry is done with */
	__sync_fetch_and_add(&swap_outs, nr);
	return 0;
}

SEC("tp_btf/mm_lru_insertion")
int BPF_PROG(thrash_swap_in, struct folio *folio)
{
	__u64 flags = folio_flags(folio);
	/* in the swap cache: a folio that skipped it (zram) is seen at its read (block_bio_queue) */
	if (!(flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_swapbacked))) ||
	    !(flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_swapcache))))
		return 0;
	__u64 entry = BPF_CORE_READ(folio, swap.val);
	if (!entry)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct out_rec *r = bpf_map_lookup_elem(&swapped_out, &entry);
	if (r && r->folio == (__u64)folio)
		return 0; /* the folio it came back in, put back on the LRU (e.g. after isolation) */
	__u64 f = (__u64)folio;
	if (r && r->folio && ((r->folio & MOVED) || in_migration())) {
		/* the copy a migration made of the folio the record names (see the top): in memory as
		 * this folio now, the same swap-in still */
		r->folio = f;
		r->prev = 0;
		bpf_map_update_elem(&folio_entry, &f, &entry, BPF_ANY);
		__sync_fetch_and_add(&swapcache_moves, 1);
		return 0;
	}
	/* no record, or one saying "in memory as another folio" (its drop was not seen, or a
	 * migration's copy drained by another task before the original was freed): no out-time */
	bool seen = r && !r->folio;
	__u64 delta = seen ? now - r->ts : 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bool traced = ms_traced(tgid);
	if (r) {
		/* in memory as this folio until it is written out again or dropped */
		r->prev = r->folio;
		r->charged_tgid = 0;
		if (r->prev && traced) {
			r->charged_tgid = tgid;
			bpf_get_current_comm(r->charged_comm, sizeof(r->charged_comm));
		}
		r->folio = (__u64)folio;
		r->ts = now;
	} else {
		struct out_rec in = { .ts = now, .folio = (__u64)folio };
		bpf_map_update_elem(&swapped_out, &entry, &in, BPF_ANY);
	}
	bpf_map_update_elem(&folio_entry, &f, &entry, BPF_ANY);
	if (!traced)
		return 0;
	struct proc_stats *s = proc_entry(tgid);
	if (!seen) {
		if (s)
			__sync_fetch_and_add(&s->unseen, 1);
		return 0;
	}
	struct hist_key hk = { .tgid = tgid, .bucket = ms_log2_bucket(delta / 1000) };
	bpf_get_current_comm(hk.comm, sizeof(hk.comm));
	ms_map_add(&thrash_hist, &hk, 1);
	if (s) {
		__sync_fetch_and_add(&s->matched, 1);
		__sync_fetch_and_add(&s->total_ns, delta);
	}
	return 0;
}

struct in_loop {
	__u64 entry;
	__u64 now;
	__u32 tgid;
	bool traced;
	__u64 matched;
	__u64 total_ns;
	__u64 unseen;
	char comm[TASK_COMM_LEN];
};

/* one page of a folio read past the swap cache: matched under its own entry, whose record goes
 * (the entry is freed as the fault completes; the page's next swap-out writes a new one) */
static long match_direct(__u64 i, struct in_loop *l)
{
	__u64 e = l->entry + i;
	struct out_rec *r = bpf_map_lookup_elem(&swapped_out, &e);
	bool seen = r && !r->folio;
	__u64 delta = seen ? l->now - r->ts : 0;
	if (r)
		bpf_map_delete_elem(&swapped_out, &e);
	if (!l->traced)
		return 0;
	if (!seen) {
		l->unseen++;
		return 0;
	}
	struct hist_key hk = { .tgid = l->tgid, .bucket = ms_log2_bucket(delta / 1000) };
	__builtin_memcpy(hk.comm, l->comm, sizeof(hk.comm));
	ms_map_add(&thrash_hist, &hk, 1);
	l->matched++;
	l->total_ns += delta;
	return 0;
}

#define REQ_OP_MASK 0xff /* (1 << REQ_OP_BITS) - 1 */

SEC("tp_btf/block_bio_queue")
int BPF_PROG(thrash_swap_in_direct, struct bio *bio)
{
	if ((BPF_CORE_READ(bio, bi_opf) & REQ_OP_MASK) != REQ_OP_READ)
		return 0;
	struct folio *folio = (struct folio *)BPF_CORE_READ(bio, bi_io_vec, bv_page);
	if (!folio)
		return 0;
	__u64 flags = folio_flags(folio);
	/* swap-backed and read from a device while not in the swap cache: only do_swap_page's (and
	 * shmem's) read past the swap cache; a read into the swap cache is seen entering the LRU */
	if (!(flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_swapbacked))) ||
	    (flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_swapcache))))
		return 0;
	__u64 entry = BPF_CORE_READ(folio, swap.val);
	if (!entry)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct in_loop l = { .entry = entry, .now = bpf_ktime_get_ns(), .tgid = tgid, .traced = ms_traced(tgid) };
	bpf_get_current_comm(l.comm, sizeof(l.comm));
	bpf_loop(folio_pages(folio, flags), match_direct, &l, 0);
	if (!l.traced)
		return 0;
	struct proc_stats *s = proc_entry(tgid);
	if (s) {
		__sync_fetch_and_add(&s->matched, l.matched);
		__sync_fetch_and_add(&s->total_ns, l.total_ns);
		__sync_fetch_and_add(&s->unseen, l.unseen);
	}
	return 0;
}

/* Every freed page: one lookup in folio_entry (measured in the README) */
static __always_inline void folio_freed(__u64 f)
{
	__u64 *entry = bpf_map_lookup_elem(&folio_entry, &f);
	if (!entry)
		return;
	__u64 e = *entry;
	bpf_map_delete_elem(&folio_entry, &f);
	struct out_rec *r = bpf_map_lookup_elem(&swapped_out, &e);
	if (r && r->prev == f && in_migration()) {
		/* the folio a "not seen" insertion displaced, freed by a migration: that insertion was
		 * its copy's, not a swap-in; the count is taken back */
		r->prev = 0;
		__sync_fetch_and_add(&swapcache_moves, 1);
		if (r->charged_tgid) {
			struct proc_key k = { .tgid = r->charged_tgid };
			__builtin_memcpy(k.comm, r->charged_comm, sizeof(k.comm));
			struct proc_stats *s = bpf_map_lookup_elem(&procs, &k);
			if (s)
				__sync_fetch_and_add(&s->unseen, -1);
		}
		return;
	}
	if (r && r->folio == f) {
		if (in_migration()) {
			/* moved to a copy, whose insertion takes the record over (r->folio, not f: the
			 * verifier refuses arithmetic on a pointer) */
			r->folio |= MOVED;
			return;
		}
		/* dropped clean: its data is only on swap from now on */
		r->ts = bpf_ktime_get_ns();
		r->folio = 0;
	}
}

SEC("tp_btf/mm_page_free")
int BPF_PROG(thrash_drop_btf, struct page *page)
{
	folio_freed((__u64)page);
	return 0;
}

static __always_inline void count_swapin(int item, __u64 val)
{
	__u32 which;
	if (item == bpf_core_enum_value(enum vm_event_item, PSWPIN))
		which = 0;
	else if (bpf_core_enum_value_exists(enum vm_event_item, SWPIN_ZERO) &&
		 item == bpf_core_enum_value(enum vm_event_item, SWPIN_ZERO))
		which = 1;
	else if (bpf_core_enum_value_exists(enum vm_event_item, ZSWPIN) &&
		 item == bpf_core_enum_value(enum vm_event_item, ZSWPIN))
		which = 2;
	else
		return;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ms_traced(tgid))
		return;
	struct proc_stats *s = proc_entry(tgid);
	if (!s)
		return;
	if (which == 0)
		__sync_fetch_and_add(&s->pswpin, val);
	else if (which == 1)
		__sync_fetch_and_add(&s->swpin_zero, val);
	else
		__sync_fetch_and_add(&s->zswpin, val);
}

SEC("tp_btf/count_memcg_events")
int BPF_PROG(thrash_pswpin_btf, struct mem_cgroup *memcg, int item, unsigned long val)
{
	count_swapin(item, val);
	return 0;
}

SEC("tracepoint/memcg/count_memcg_events")
int thrash_pswpin_tp(struct trace_event_raw_memcg_rstat_events *ctx)
{
	count_swapin(ctx->item, ctx->val);
	return 0;
}
