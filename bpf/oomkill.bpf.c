// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* oomkill: one record per OOM kill (the book's oomkill), from the oom:mark_victim tracepoint.
 * mark_victim fires in the context of the task whose allocation or charge triggered the OOM;
 * its argument is the victim, which can be another process. */
#include "stacks.h"

/* Set by userspace: log2 of the page size; memory.limit_in_bytes exists (cgroup v1 memcg). */
const volatile __u32 page_shift = 12;
const volatile bool memcg_v1 = false;

#define CG_DEPTH 12
/* long enough for runtimes' names: "cri-containerd-<64 hex>.scope" is 85 characters */
#define CG_NAME 128
/* a memcg whose usage is within this many pages of its limit counts as "at its limit" */
#define AT_LIMIT_SLACK 1024
/* page_counter "max" values from here up mean "no limit" (PAGE_COUNTER_MAX is LONG_MAX / PAGE_SIZE) */
#define NO_LIMIT (1UL << 50)

struct cg_path {
	__u32 depth;     /* components used, leaf first */
	__u32 truncated; /* the path had more than CG_DEPTH components */
	char comps[CG_DEPTH][CG_NAME];
};

struct oom_event {
	__u32 trig_pid; /* process (tgid) whose allocation triggered the OOM */
	__u32 trig_tid;
	__u32 victim_pid; /* tgid; the thread id when only the classic tracepoint is available */
	__u32 victim_tid;
	__u64 total_vm; /* pages */
	__u64 anon_rss; /* pages */
	__u64 file_rss;
	__u64 shmem_rss;
	__u64 victim_cgid; /* kernfs id (the directory's inode) of the victim's memory cgroup; 0 unknown */
	__u64 limit_cgid;  /* memcg at its limit on the trigger's path to the root; 0 none */
	__u64 limit_pages; /* that memcg's limit */
	__u64 limit_usage; /* its usage then, before the kill frees anything (pages) */
	/* that memcg's memory.max, memsw.max (v1) or swap.max (v2), and swappiness (-1: not in this
	 * kernel): what mem_cgroup_get_max() adds up into the OOM decision's totalpages */
	__u64 mem_max;
	__u64 swap_max;
	__s32 swappiness;
	__u32 pad0;
	__s32 oom_score_adj;
	__u32 uid;
	__u32 source; /* 1 tp_btf, 2 classic tracepoint */
	__s32 trig_ustack; /* the trigger's user stack: a stack id, MS_USTACK_DWARF (a sample of trig_tid), or < 0 none */
	__u32 trig_seq;    /* trig_ustack MS_USTACK_DWARF: the number its sample carries (ms_dwarf_event_sample) */
	char trig_comm[TASK_COMM_LEN];
	char victim_comm[TASK_COMM_LEN];
	struct cg_path victim_cg;
	struct cg_path limit_cg;
};
MS_BTF_TYPE(oom_event);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} oom_events SEC(".maps");

/* kernfs_node.parent was renamed __parent in 6.15 */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(struct kernfs_node, __parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* The cgroup's path below its hierarchy's root, as the kernel prints it ("/a/b"), leaf first. */
static __always_inline __u64 cgroup_path(struct cgroup *cgrp, struct cg_path *out)
{
	struct kernfs_node *kn = BPF_CORE_READ(cgrp, kn);
	__u64 id = BPF_CORE_READ(kn, id);
	out->depth = 0;
	out->truncated = 0;
	for (int i = 0; i < CG_DEPTH; i++) {
		struct kernfs_node *parent = kn ? kn_parent(kn) : 0;
		if (!parent)
			return id; /* kn is the hierarchy's root: it has no name in the path */
		bpf_probe_read_kernel_str(out->comps[i], CG_NAME, BPF_CORE_READ(kn, name));
		out->depth = i + 1;
		kn = parent;
	}
	out->truncated = kn && kn_parent(kn) != 0;
	return id;
}

static __always_inline struct mem_cgroup *task_memcg(struct task_struct *t)
{
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css = BPF_CORE_READ(t, cgroups, subsys[id]);
	return container_of(css, struct mem_cgroup, css);
}

static __always_inline bool near(__u64 usage, __u64 max)
{
	return max < NO_LIMIT && usage + AT_LIMIT_SLACK >= max;
}

/* The first memcg from the current task's up to the root whose usage is at its limit (memory, or
 * memory+swap on v1): in a memcg OOM that is the memcg that could not be charged. */
static __always_inline void find_limit_memcg(struct oom_event *e)
{
	struct mem_cgroup *m = task_memcg((struct task_struct *)bpf_get_current_task());
	for (int i = 0; i < CG_DEPTH + 4 && m; i++) {
		struct cgroup_subsys_state *parent = BPF_CORE_READ(m, css.parent);
		if (!parent)
			return; /* the root memcg has no limit */
		__u64 max = BPF_CORE_READ(m, memory.max);
		__u64 usage = BPF_CORE_READ(m, memory.usage.counter);
		bool at = near(usage, max);
		if (!at && memcg_v1) {
			__u64 swmax = BPF_CORE_READ(m, memsw.max);
			__u64 swusage = BPF_CORE_READ(m, memsw.usage.counter);
			if (near(swusage, swmax)) {
				at = true;
				max = swmax;
				usage = swusage;
			}
		}
		if (at) {
			e->limit_pages = max;
			e->limit_usage = usage;
			e->mem_max = BPF_CORE_READ(m, memory.max);
			e->swap_max = BPF_CORE_READ(m, memsw.max); /* a union with swap.max */
			e->swappiness = bpf_core_field_exists(m->swappiness) ? BPF_CORE_READ(m, swappiness) : -1;
			e->limit_cgid = cgroup_path(BPF_CORE_READ(m, css.cgroup), &e->limit_cg);
			return;
		}
		m = container_of(parent, struct mem_cgroup, css);
	}
}

#define PF_KTHREAD 0x00200000

/* At mark_victim the task_vma iterator of stacks.h fails (-EBUSY here, with SIGKILL already sent),
 * so the trigger's executable mappings could not reach userspace before the process is gone. This
 * sends them another way, ahead of the sample: bpf_find_vma (which works here) on rip and on every
 * word of the top of the user stack that could be a return address, each found mapping once. */
#define SCAN_CACHE 16

struct scan_state {
	__u64 sp;
	__u64 ip;
	__u64 vdso;
	__u32 tgid;
	__u32 next;            /* round-robin slot of the range cache */
	__u64 lo[SCAN_CACHE];  /* mappings already looked at (executable or not) */
	__u64 hi[SCAN_CACHE];
};

static long scan_step(__u32 i, void *arg)
{
	struct scan_state *st = arg;
	__u64 addr = st->ip;
	if (i > 0 && bpf_probe_read_user(&addr, sizeof(addr), (void *)(st->sp + (__u64)(i - 1) * 8)))
		return 1; /* past the top of the stack */
	if (addr < 4096 || addr >= (1ULL << 47))
		return 0;
	for (int j = 0; j < SCAN_CACHE; j++)
		if (st->lo[j] <= addr && addr < st->hi[j])
			return 0;
	struct ms_found_vma f = {}; /* stacks.h's bpf_find_vma result and callback */
	if (bpf_find_vma(bpf_get_current_task_btf(), addr, ms_found_vma_cb, &f, 0) || f.end <= f.start)
		return 0;
	__u32 slot = st->next++ & (SCAN_CACHE - 1);
	st->lo[slot] = f.start;
	st->hi[slot] = f.end;
	if (!(f.flags & MS_VM_EXEC) || (!f.file && f.start != st->vdso))
		return 0;
	__u32 zero = 0;
	struct ms_dwarf_map *n = bpf_map_lookup_elem(&ms_dwarf_map_scratch, &zero);
	if (!n)
		return 1;
	struct file *file = f.file; /* a local: CO-RE relocations apply to kernel types only */
	ms_send_mapping(n, st->tgid, f.start, f.end, f.pgoff, file);
	return 0;
}

static __always_inline void note_maps_by_address(__u32 tgid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct scan_state st = { .tgid = tgid };
	st.sp = BPF_CORE_READ(regs, sp);
	st.ip = BPF_CORE_READ(regs, ip);
	st.vdso = (__u64)BPF_CORE_READ(task, mm, context.vdso);
	bpf_loop(ms_unwind_bytes / 8 + 1, scan_step, &st, 0);
}


/* The user stack of the task that triggered the OOM (current: it is in its page fault or system
 * call): DWARF-unwound in userspace (--unwind, stacks.h) or walked with frame pointers here. */
static __always_inline __s32 trigger_ustack(void *ctx, __u32 tgid, __u32 *seq)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(t, flags) & PF_KTHREAD)
		return -1; /* a kernel thread has no user stack */
	ms_note_process(tgid);
	if (ms_unwind != MS_UNWIND_FP) {
		note_maps_by_address(tgid);
		if ((*seq = ms_dwarf_event_sample(ctx, tgid)))
			return MS_USTACK_DWARF;
	}
	return ms_user_stack(ctx);
}

static __always_inline struct oom_event *new_event(void *ctx, __u32 source)
{
	struct oom_event *e = bpf_ringbuf_reserve(&oom_events, sizeof(*e), 0);
	if (!e) {
		ms_count_lost();
		return 0;
	}
	/* everything but the path components, which are read up to their NUL */
	__builtin_memset(e, 0, offsetof(struct oom_event, victim_cg));
	e->victim_cg.depth = e->limit_cg.depth = 0;
	e->victim_cg.truncated = e->limit_cg.truncated = 0;
	__u64 id = bpf_get_current_pid_tgid();
	e->trig_pid = id >> 32;
	e->trig_tid = (__u32)id;
	e->source = source;
	e->trig_ustack = trigger_ustack(ctx, e->trig_pid, &e->trig_seq);
	bpf_get_current_comm(e->trig_comm, sizeof(e->trig_comm));
	find_limit_memcg(e);
	return e;
}

static __always_inline __u64 rss(struct mm_struct *mm, int member)
{
	__s64 v = BPF_CORE_READ(mm, rss_stat[member].count);
	return v > 0 ? v : 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(oom_mark_victim_btf, struct task_struct *victim, uid_t uid)
{
	/* --cgroup/--container keep the kills whose victim is inside (the trigger may be elsewhere) */
	if (!ms_task_in_cgroup(victim))
		return 0;
	struct oom_event *e = new_event(ctx, 1);
	if (!e)
		return 0;
	e->victim_pid = BPF_CORE_READ(victim, tgid);
	e->victim_tid = BPF_CORE_READ(victim, pid);
	e->uid = uid;
	bpf_probe_read_kernel_str(e->victim_comm, sizeof(e->victim_comm), victim->comm);
	struct mm_struct *mm = BPF_CORE_READ(victim, mm);
	if (mm) {
		e->total_vm = BPF_CORE_READ(mm, total_vm);
		e->anon_rss = rss(mm, MM_ANONPAGES);
		e->file_rss = rss(mm, MM_FILEPAGES);
		e->shmem_rss = rss(mm, MM_SHMEMPAGES);
	}
	e->oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	e->victim_cgid = cgroup_path(BPF_CORE_READ(task_memcg(victim), css.cgroup), &e->victim_cg);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* The classic tracepoint reports sizes in kB and the victim's thread id, not its cgroup. */
SEC("tracepoint/oom/mark_victim")
int oom_mark_victim_tp(struct trace_event_raw_mark_victim *ctx)
{
	struct oom_event *e = new_event(ctx, 2);
	if (!e)
		return 0;
	__u32 kb_shift = page_shift - 10;
	e->victim_pid = BPF_CORE_READ(ctx, pid);
	e->victim_tid = e->victim_pid;
	e->uid = BPF_CORE_READ(ctx, uid);
	unsigned int loc = BPF_CORE_READ(ctx, __data_loc_comm);
	bpf_probe_read_kernel_str(e->victim_comm, sizeof(e->victim_comm), (void *)ctx + (loc & 0xffff));
	e->total_vm = BPF_CORE_READ(ctx, total_vm) >> kb_shift;
	e->anon_rss = BPF_CORE_READ(ctx, anon_rss) >> kb_shift;
	e->file_rss = BPF_CORE_READ(ctx, file_rss) >> kb_shift;
	e->shmem_rss = BPF_CORE_READ(ctx, shmem_rss) >> kb_shift;
	e->oom_score_adj = BPF_CORE_READ(ctx, oom_score_adj);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
