/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
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

/* memscope's own process (set by BpfObject.open): never traced. Its page faults, brk() and
 * mmap() calls while it reads maps and unwinds stacks would otherwise be counted, and with DWARF
 * unwinding each of its faults makes a sample whose unwinding faults again (a feedback loop). */
const volatile __u32 ms_self_tgid = 0;
/* The agent's children are memscope too (a heap profile's memleak): set by
 * the agent only, as a CLI's children are what it traces (memleak -c). */
const volatile bool ms_skip_self_children = false;

/* Events dropped because a ring buffer or map was full; userspace reports it. */
__u64 lost_events = 0;
/* Notes (new processes, executable mappings) a full ring buffer refused: not events, so kept apart
 * from lost_events, which the end-of-run accounting adds to the events counted. */
__u64 ms_notes_lost = 0;

/* Ring buffers of records that carry their own data (mappings, samples) wake their reader only
 * past a fill level: set by the agent only, which also reads its rings at every collection. Woken
 * at each record, it woke 1,300-2,600 times a second on a busy host; the CLI tools print events
 * as they come and keep the wake-up per record. */
const volatile bool ms_batch_wakeups = false;
/* the fill (a fraction of the ring, as a shift) past which a record wakes the reader at once: the
 * rest of the ring is the room left for the records that come before it reads */
#define MS_WAKEUP_FILL_SHIFT 3

/* The flags of a record about to be written to ring: no wake-up while the ring holds little.
 * Past the fill level the wake-up is forced (the default one wakes only a reader that has caught
 * up, and a reader left unwoken has not). */
static __always_inline __u64 ms_ring_flags(void *ring)
{
	if (!ms_batch_wakeups)
		return 0;
	__u64 size = bpf_ringbuf_query(ring, BPF_RB_RING_SIZE);
	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= (size >> MS_WAKEUP_FILL_SHIFT) ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* --cgroup / --container: 0 traces every cgroup; otherwise only tasks in the cgroup whose kernfs id
 * (its directory's inode) is targ_cgid, or below it; targ_cg_level is that cgroup's depth (the
 * hierarchy's root is 0). targ_cg_v2 picks the hierarchy: the task's v2 cgroup (css_set dfl_cgrp),
 * else the cgroup of its v1 memory controller css. Both are read from the task, in the kernel, so a
 * process that enters the cgroup is traced from its first event: no pid list to keep current from
 * user space (a v1 cgroup has no bpf_get_current_cgroup_id, and a list polled from cgroup.procs
 * would miss short-lived processes). The ancestor at the target's level is compared, so nested
 * cgroups (a container's children) count as inside. */
const volatile __u64 targ_cgid = 0;
const volatile __u32 targ_cg_level = 0;
const volatile bool targ_cg_v2 = false;

/* Whether task t lies in the --cgroup/--container target (always, without one). oomkill asks it of
 * the victim; every other tool, through ms_cgroup_traced, of the current task. */
static __always_inline bool ms_task_in_cgroup(struct task_struct *t)
{
#ifdef MS_LEAN
	/* an object built without CO-RE relocations (libbpf then never parses kernel BTF for it, see
	 * bpf/count.bpf.c) cannot read the task's cgroup: user space picks it only without --cgroup */
	return !targ_cgid;
#else
	if (!targ_cgid)
		return true;
	struct cgroup *cg;
	if (targ_cg_v2) {
		cg = BPF_CORE_READ(t, cgroups, dfl_cgrp);
	} else {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		cg = BPF_CORE_READ(t, cgroups, subsys[id], cgroup);
	}
	if (!cg || BPF_CORE_READ(cg, level) < (int)targ_cg_level)
		return false;
	struct cgroup *anc = NULL;
	__u32 level = targ_cg_level;
	if (level > 255)
		return false;
	bpf_core_read(&anc, sizeof(anc), &cg->ancestors[level]);
	return anc && BPF_CORE_READ(anc, kn, id) == targ_cgid;
#endif
}

static __always_inline bool ms_cgroup_traced(void)
{
	return ms_task_in_cgroup((struct task_struct *)bpf_get_current_task());
}

/* The kernfs id of the current task's memory cgroup (v1 memory controller or v2). */
static __always_inline __u64 ms_current_memcg_id(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	return BPF_CORE_READ(t, cgroups, subsys[id], cgroup, kn, id);
}

/* The CONTAINER column (src/tools/_container-column.ts): the memory cgroup of each traced process,
 * as of its latest traced event, so userspace names the container of a process that has exited by
 * the time its row is printed, and of one that moved (`docker exec`, a runtime placing its child)
 * as it is now; no /proc read. Written only when it changes: a lookup and the task's memcg read per
 * event. Off (pruned, the map at its one entry) unless the tool shows the column. */
const volatile bool ms_want_cgroups = false;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);   /* tgid */
	__type(value, __u64); /* memory cgroup's kernfs id */
	__uint(max_entries, 1);
} ms_pid_cgroup SEC(".maps");

/* ms_note_cgroup with the memory cgroup's id read already (a program that counts by cgroup too
 * reads it once: five pointer reads per event) */
static __always_inline void ms_note_cgroup_id(__u32 tgid, __u64 id)
{
#ifndef MS_LEAN
	if (!ms_want_cgroups)
		return;
	__u64 *was = bpf_map_lookup_elem(&ms_pid_cgroup, &tgid);
	if (was && *was == id)
		return;
	bpf_map_update_elem(&ms_pid_cgroup, &tgid, &id, BPF_ANY);
#endif
}

static __always_inline void ms_note_cgroup(__u32 tgid)
{
#ifndef MS_LEAN /* reading the task's cgroup is CO-RE; a lean object shows no CONTAINER column */
	if (ms_want_cgroups)
		ms_note_cgroup_id(tgid, ms_current_memcg_id());
#endif
}

/* Whether process tgid is one memscope traces: never memscope itself nor (the agent) its own
 * children, then -p/-c, then --cgroup. Every caller passes the current task's tgid (the cgroup
 * test reads the current task). The one filter: ms_traced's, and ms_note_exit's (no event). */
static __always_inline bool ms_traced_process(__u32 tgid)
{
	if (tgid == ms_self_tgid || (targ_tgid != 0 && tgid != targ_tgid) || !ms_cgroup_traced())
		return false;
#ifndef MS_LEAN
	if (ms_skip_self_children) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		if (BPF_CORE_READ(t, real_parent, tgid) == ms_self_tgid)
			return false;
	}
#endif
	return true;
}

/* Whether an event of process tgid is traced (ms_traced_process); a traced process's memory
 * cgroup is noted for the CONTAINER column. */
static __always_inline bool ms_traced(__u32 tgid)
{
	if (!ms_traced_process(tgid))
		return false;
	ms_note_cgroup(tgid);
	return true;
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

/* The bucket of a log2 histogram, the rule of src/render/histogram.ts log2Bucket (renderLog2):
 * 0 for 0, else 1 + floor(log2(v)). */
static __always_inline __u32 ms_log2_bucket(__u64 v)
{
	__u32 r = 0;
	if (!v)
		return 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r + 1;
}

/* Per memory cgroup totals for `memscope agent`, which loads the tools' own programs with
 * ms_by_cgroup set and this map sized; the CLI tools leave it off (the verifier prunes the branch)
 * and the map at one entry. Key: the memcg's kernfs id (the inode of its cgroup directory, what
 * bpf_get_current_cgroup_id() returns for a v2 leaf) and what was counted (MS_CG_*). */
const volatile bool ms_by_cgroup = false;

enum { MS_CG_FAULTS, MS_CG_SWAPIN, MS_CG_HUGETLB_FAULTS, MS_CG_BRK_BYTES, MS_CG_MMAP_BYTES, MS_CG_RECLAIM_STALL_NS,
       MS_CG_RECLAIM_STALLS, MS_CG_KINDS };

struct ms_cg_key {
	__u64 cgid;
	__u32 kind;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_cg_key);
	__type(value, __u64);
	__uint(max_entries, 1);
} ms_cgroup_totals SEC(".maps");

static __always_inline void ms_cgroup_add_id(__u32 kind, __u64 cgid, __u64 delta)
{
	if (!ms_by_cgroup)
		return;
	struct ms_cg_key key = { .cgid = cgid, .kind = kind };
	ms_map_add(&ms_cgroup_totals, &key, delta);
}

static __always_inline void ms_cgroup_add(__u32 kind, __u64 delta)
{
	if (ms_by_cgroup)
		ms_cgroup_add_id(kind, ms_current_memcg_id(), delta);
}

/* Keeps a record type in the object's BTF although only a ring-buffer reservation uses it (clang
 * emits BTF only for types that globals, maps or functions mention): memscope checks its TypeScript
 * layout of the record against this BTF when the object opens. An unused pointer in .bss, as
 * bpf2go asks for. */
#define MS_BTF_TYPE(name) struct name *ms_btf_##name __attribute__((unused))

/* Processes seen for the first time are announced to userspace with the path of their executable
 * (built here, while it is certain to exist), and userspace records their mappings while they
 * live: stacks then resolve after the process has exited. */
#define MS_PATH_DEPTH 16
#define MS_NAME_LEN 64

struct ms_proc_note {
	__u32 tgid;
	__u32 depth;                               /* components used, leaf first */
	char comps[MS_PATH_DEPTH][MS_NAME_LEN];
};

/* tgid -> the mm it was noted with: an exec gives the process a new mm (a new program: its
 * mappings and executable change), so it is noted again. Noted once per tgid, a process that
 * faulted before its exec (runc init before a container's program, a shell before its `exec`)
 * kept the old program's mappings, and its new program's files were looked for only when its
 * stacks were named, after it died. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8192);
} ms_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} ms_new_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ms_proc_note);
	__uint(max_entries, 1);
} ms_note_scratch SEC(".maps");

struct ms_path_walk {
	struct dentry *d;
	struct vfsmount *vmnt;         /* d's mount (its struct mount found by container_of) */
	struct dentry *start;          /* where a second walk begins (ms_dwarf_map's sb_path): kept
					* here, not in a register spilled to the stack (the verifier's
					* 512-byte chain is near) */
	struct ms_proc_note *note;
};

/* One step up the dentry tree: records a name, or crosses a mount point; 1 ends the walk.
 * Run through bpf_loop so the verifier checks one step instead of every path through all. */
static long ms_path_step(__u32 i, void *arg)
{
	struct ms_path_walk *w = arg;
	struct ms_proc_note *note = w->note;
	if (!note || note->depth >= MS_PATH_DEPTH)
		return 1;
	/* locals, so CO-RE relocations apply to kernel types only */
	struct dentry *d = w->d;
	struct vfsmount *vmnt = w->vmnt;
	struct mount *mnt = container_of(vmnt, struct mount, mnt);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == BPF_CORE_READ(vmnt, mnt_root) || d == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (!up || up == mnt)
			return 1;
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->vmnt = &up->mnt;
		return 0;
	}
	bpf_probe_read_kernel_str(note->comps[note->depth & (MS_PATH_DEPTH - 1)], MS_NAME_LEN,
				  BPF_CORE_READ(d, d_name.name));
	note->depth++;
	w->d = parent;
	return 0;
}

static __always_inline void ms_note_process(__u32 tgid)
{
	__u32 zero = 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 mm = (__u64)BPF_CORE_READ(task, mm);
	/* the common case first: an LRU update takes a free node before it checks the key */
	__u64 *seen = bpf_map_lookup_elem(&ms_seen, &tgid);
	if (seen && *seen == mm)
		return;
	/* two CPUs may both note a new program: the symbolizer reads its maps twice, harmlessly */
	if (bpf_map_update_elem(&ms_seen, &tgid, &mm, BPF_ANY))
		return;
	struct ms_proc_note *note = bpf_map_lookup_elem(&ms_note_scratch, &zero);
	if (!note)
		return;
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct ms_path_walk w = {
		.d = BPF_CORE_READ(exe, f_path.dentry),
		.vmnt = BPF_CORE_READ(exe, f_path.mnt),
		.note = note,
	};
	note->tgid = tgid;
	note->depth = 0;
	if (exe)
		bpf_loop(MS_PATH_DEPTH + 8, ms_path_step, &w, 0);
	/* woken at once, batched or not: userspace reads the process's /proc/PID/maps on this note,
	 * which a short-lived process must still have then (batched, a note waited up to a collection,
	 * and agent-dashboard's OOM post-mortem test failed once in three runs) */
	if (bpf_ringbuf_output(&ms_new_procs, note, sizeof(*note), 0))
		__sync_fetch_and_add(&ms_notes_lost, 1);
}

/* Dual BSD/GPL (bpf/LICENSE): GPL-compatible for the kernel, so GPL-only helpers stay usable. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

#endif
