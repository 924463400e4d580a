/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Stack capture, in one replaceable place. Every map here is sized 1 entry by default (it costs
 * nothing): a tool opts in to the kinds it captures by sizing them before load (sizeStackMaps in
 * src/engine/stacks.ts), so a tool never carries maps it does not use.
 *
 * User stacks come in two kinds, chosen at load by ms_plain_ustacks:
 *  - build-id stacks (ms_ustacks, low-rate tools): the kernel records (build id, file offset) per
 *    frame while the process is alive, so symbolization works after the process exited;
 *  - walked stacks (ms_walked_ustacks, high-rate tools): a frame-pointer walk here, the stack named
 *    by a hash of its return addresses (see ms_walk_user_stack).
 * Kernel stacks (ms_kstacks) are stored the walked way too: the kernel's own stack map keeps one
 * stack per hash bucket and loses a stack whose bucket another holds (issue 10). */
#ifndef MEMSCOPE_STACKS_H
#define MEMSCOPE_STACKS_H

#include "memscope.h"

#define MS_STACK_DEPTH 127

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MS_STACK_DEPTH * sizeof(struct bpf_stack_build_id));
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_STACK_BUILD_ID);
} ms_ustacks SEC(".maps");

/* Walked user stacks (ms_plain_ustacks), for tools whose events come fast (faults, stackcount).
 * Build-id stacks cost the kernel an mmap-lock trylock per event and, where interrupts are off
 * (page-fault tracepoints), a self-IPI to release it; and bpf_get_stackid() stores a stack in the
 * bucket of its hash, so two stacks whose hashes share a bucket cannot both be kept (a fork storm
 * lost 66% of fault stacks that way, issue 10). Here the walk reads the user frame records with
 * bpf_probe_read_user, and the stack is stored under a 30-bit id (and a generation bit) from a 64-bit hash of its
 * addresses; the value keeps the full hash, so a different stack landing on a taken id moves on to
 * the next ids (MS_WALK_PROBES tries). Only a full map or MS_WALK_PROBES taken ids lose a stack,
 * and both are counted. The process's executable mappings are sent to userspace whenever they
 * change (ms_dwarf_note_maps, ahead of the stacks), so addresses resolve after the process exited.
 * Each stack stored is then noted on the same ring (ms_note_new_stack), so userspace ties it to its
 * process's mappings as it arrives instead of reading whole count maps to find what is new. */
const volatile bool ms_plain_ustacks = false;

#define MS_WALK_PROBES 4
#define MS_STACK_DEPTH_POW2 128 /* a mask for indexes into ips[], which has one spare slot */

struct ms_walked_stack {
	__u64 hash;
	__u32 nr;                   /* addresses used in ips[] */
	/* the low 32 bits of mm->start_stack, placed anew at each exec: the program image the stack is
	 * of. A count keyed by (tgid, stack id) is named at the end in the maps then known for tgid,
	 * perhaps of a program exec'd since with other code at the same addresses (two non-PIE
	 * programs): userspace names a stack only in maps of its image (issue 10) */
	__u32 image;
	__u64 ips[MS_STACK_DEPTH];  /* innermost first: the event's rip, then return addresses */
	__u64 spare;                /* ips[127] when a masked index reaches it (never used: n < 127) */
};

/* A map of stacks by id, laid out as struct ms_walked_stack (filled by ms_store_stack), allocated
 * as stacks are stored: a large limit costs nothing until used. */
#define MS_STACK_STORE(name)                                  \
	struct {                                              \
		__uint(type, BPF_MAP_TYPE_HASH);              \
		__type(key, __u32);                           \
		__type(value, struct ms_walked_stack);        \
		__uint(max_entries, 1);                       \
		__uint(map_flags, BPF_F_NO_PREALLOC);         \
	} name SEC(".maps")

MS_STACK_STORE(ms_walked_ustacks);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ms_walked_stack);
	__uint(max_entries, 1);
} ms_walk_scratch SEC(".maps");

__u64 ms_walked_full = 0;     /* walked stacks not stored: the map was full */
__u64 ms_walked_collided = 0; /* walked stacks not stored: MS_WALK_PROBES ids taken by other stacks */

/* Kernel stacks, laid out as walked stacks (image 0) and stored the same way (ms_store_stack): one
 * kernel stack is the same whoever ran it, so neither the process nor its image is in its hash. */
MS_STACK_STORE(ms_kstacks);

__u64 ms_kstacks_full = 0;     /* kernel stacks not stored: the map was full */
__u64 ms_kstacks_collided = 0; /* kernel stacks not stored: MS_WALK_PROBES ids taken by other stacks */

/* The generation new stacks are stored in: bit 30 of their ids (MS_GEN_BIT). An interval report
 * (stackcount -i, vmgrowth -s) flips it, reads the interval's counts, then deletes every stack of
 * the old generation (src/engine/stack-generations.ts): an event after the flip stores its stack
 * anew under an id of the new generation, so no count read later names a deleted stack, and the
 * store holds one interval's stacks, not the whole run's (issue 10). A tool that never flips it
 * stores every stack in generation 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} ms_stack_gen SEC(".maps");

#define MS_GEN_BIT 0x40000000
#define MS_ID_MASK 0x3fffffff

#define MS_FNV_OFFSET 14695981039346656037ULL
#define MS_FNV_PRIME 1099511628211ULL

/* Stores the stack in w (its hash, nr and ips filled) in stacks under a 30-bit id from w->hash and
 * the current generation's bit (ms_stack_gen),
 * trying the next ids while another stack holds one (the value keeps the full hash, so a stack is
 * known again by it). Returns the id, -ENOMEM (the map is full: counted in *full) or -EEXIST
 * (MS_WALK_PROBES ids taken: counted in *collided); *added says the stack was stored just now. */
static __always_inline __s32 ms_store_stack(void *stacks, struct ms_walked_stack *w, __u64 *full, __u64 *collided,
					    bool *added)
{
	__u64 h = w->hash;
	__u32 zero = 0;
	__u32 *g = bpf_map_lookup_elem(&ms_stack_gen, &zero);
	__u32 gen = g && *g ? MS_GEN_BIT : 0;
	__u32 id = ((__u32)(h ^ (h >> 32)) & MS_ID_MASK) | gen;
	*added = false;
	for (int i = 0; i < MS_WALK_PROBES; i++, id = ((id + 1) & MS_ID_MASK) | gen) {
		struct ms_walked_stack *have = bpf_map_lookup_elem(stacks, &id);
		if (have) {
			if (have->hash == h)
				return id;
			continue;
		}
		long err = bpf_map_update_elem(stacks, &id, w, BPF_NOEXIST);
		if (!err) {
			*added = true;
			return id;
		}
		if (err == -17 /* EEXIST: stored meanwhile on another CPU: look at it again */) {
			have = bpf_map_lookup_elem(stacks, &id);
			if (have && have->hash == h)
				return id;
			continue;
		}
		__sync_fetch_and_add(full, 1);
		return -12;
	}
	__sync_fetch_and_add(collided, 1);
	return -17;
}

struct ms_frame_record {
	__u64 next;
	__u64 ret;
};

struct ms_dwarf_map;
static __always_inline long ms_send_mapping(struct ms_dwarf_map *n, __u32 tgid, __u64 start, __u64 end, __u64 pgoff,
					    struct file *file);
static __noinline void ms_send_stack_mappings(__u32 tgid);
static __always_inline void ms_note_new_stack(__u32 tgid, __s32 id, __u32 image);

/* Walks the current task's user stack by frame pointers from its user registers (whatever the
 * event's context: a user fault, a kernel-mode fault on user memory, a system call) and returns the
 * stack's id in ms_walked_ustacks, or a negative errno (-EFAULT: no user stack, -ENOMEM: map full,
 * -EEXIST: ids taken). The frame records read lie on stack pages the task has used, so the walk does
 * not fault; the first bad record ends it (as the kernel's own walk does). The process and its
 * program image (w->image) are part of the hash: a stack is stored once per process image, and
 * storing it sends the executable mappings its frames lie in (ms_send_stack_mappings), so its
 * addresses resolve after the process is gone, even where the vma iterator of ms_dwarf_note_maps is
 * refused (it answers -EBUSY in fault handlers).
 * stacks: a map laid out as ms_walked_ustacks (the agent's fault trace keeps one of its own). */
static __always_inline __s32 ms_walk_user_stack_in(void *stacks, bool entry)
{
	__u32 zero = 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->flags & 0x00200000 /* PF_KTHREAD */)
		return -14;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct ms_walked_stack *w = bpf_map_lookup_elem(&ms_walk_scratch, &zero);
	if (!w || !regs)
		return -14;
	__u64 ip = BPF_CORE_READ(regs, ip);
	__u64 fp = BPF_CORE_READ(regs, bp);
	if (!ip)
		return -14;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	/* the image is part of the hash too: the same addresses after an exec are another stack */
	__u32 image = (__u32)task->mm->start_stack; /* a NULL mm reads as 0 (BTF pointer) */
	__u64 h = ((MS_FNV_OFFSET ^ tgid) * MS_FNV_PRIME ^ image) * MS_FNV_PRIME ^ ip;
	w->ips[0] = ip;
	__u32 n = 1;
	/* at a function's first instruction (a uprobe) the frame is not pushed yet: the caller is the
	 * return address at [sp], and rbp is still the caller's frame (the kernel's walk does the same) */
	__u64 ra = 0;
	if (entry && !bpf_probe_read_user(&ra, sizeof(ra), (void *)BPF_CORE_READ(regs, sp)) && ra) {
		w->ips[1] = ra;
		h = (h ^ ra) * MS_FNV_PRIME;
		n = 2;
	}
	for (int i = 1; i < MS_STACK_DEPTH - 1; i++) {
		struct ms_frame_record fr;
		if (n >= MS_STACK_DEPTH || !fp || (fp & 7) || bpf_probe_read_user(&fr, sizeof(fr), (void *)fp) || !fr.ret)
			break;
		w->ips[n & (MS_STACK_DEPTH_POW2 - 1)] = fr.ret;
		n++;
		h = (h ^ fr.ret) * MS_FNV_PRIME;
		if (fr.next <= fp) /* frames lie at higher addresses as the walk goes up */
			break;
		fp = fr.next;
	}
	h ^= h >> 29;
	w->hash = h;
	w->nr = n;
	w->image = image;
	bool added;
	__s32 id = ms_store_stack(stacks, w, &ms_walked_full, &ms_walked_collided, &added);
	if (added) {
		ms_send_stack_mappings(tgid);
		ms_note_new_stack(tgid, id, image);
	}
	return id;
}

/* The walk into ms_walked_ustacks, the map every walked-stack tool reads. */
static __always_inline __s32 ms_walk_user_stack(bool entry)
{
	return ms_walk_user_stack_in(&ms_walked_ustacks, entry);
}

static __always_inline void ms_dwarf_note_maps(struct task_struct *task, __u32 tgid);

/* The process whose notes (ms_note_process, ms_dwarf_note_maps) this CPU last sent, and the size of
 * its executable mappings then. Fault and syscall storms come from one process at a time: while the
 * same process has the same executable mappings, its notes were sent and their hash lookups (and in
 * fault handlers a vma iterator the kernel refuses) are skipped for a per-CPU array lookup the
 * verifier inlines. A mapping note the iterator could not send is not lost: a walked stack sends the
 * mappings of its frames when it is first stored (ms_send_stack_mappings). */
struct ms_cpu_seen {
	__u64 mm;
	__u64 exec_vm;
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ms_cpu_seen);
	__uint(max_entries, 1);
} ms_cpu_seen SEC(".maps");

/* Sends the current process's notes unless this CPU saw them sent since its mappings last changed. */
static __always_inline void ms_note_process_once(__u32 tgid)
{
	__u32 zero = 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct ms_cpu_seen *seen = bpf_map_lookup_elem(&ms_cpu_seen, &zero);
	__u64 mm = (__u64)task->mm;
	if (!seen || !mm)
		return;
	__u64 exec_vm = task->mm->exec_vm;
	if (seen->tgid == tgid && seen->mm == mm && seen->exec_vm == exec_vm)
		return;
	ms_note_process(tgid);
	ms_dwarf_note_maps(task, tgid);
	seen->tgid = tgid;
	seen->mm = mm;
	seen->exec_vm = exec_vm;
}

/* Returns a stack id, or a negative errno (-EFAULT: no user stack, -EEXIST/-ENOMEM: map full). */
static __always_inline __s32 ms_user_stack_at(void *ctx, bool entry)
{
	if (ms_plain_ustacks) {
		ms_dwarf_note_maps(bpf_get_current_task_btf(), bpf_get_current_pid_tgid() >> 32);
		return ms_walk_user_stack(entry);
	}
	return bpf_get_stackid(ctx, &ms_ustacks, BPF_F_USER_STACK);
}

static __always_inline __s32 ms_user_stack(void *ctx)
{
	return ms_user_stack_at(ctx, false);
}

/* The event's kernel stack (bpf_get_stack: the frames bpf_get_stackid would give, the helper's own
 * left out) stored in ms_kstacks; returns its id or a negative errno (-EFAULT: no kernel frames, as
 * in a uprobe; -ENOMEM, -EEXIST: not stored, counted). Uses ms_walk_scratch, as the user walk does:
 * each stores its stack before the other may begin. */
static __always_inline __s32 ms_kernel_stack(void *ctx)
{
	__u32 zero = 0;
	struct ms_walked_stack *w = bpf_map_lookup_elem(&ms_walk_scratch, &zero);
	if (!w)
		return -14;
	long len = bpf_get_stack(ctx, w->ips, sizeof(w->ips), 0);
	if (len <= 0)
		return -14;
	__u32 n = len / sizeof(__u64);
	__u64 h = MS_FNV_OFFSET;
	for (__u32 i = 0; i < MS_STACK_DEPTH && i < n; i++)
		h = (h ^ w->ips[i]) * MS_FNV_PRIME;
	h ^= h >> 29;
	w->hash = h;
	w->nr = n;
	w->image = 0;
	bool added;
	return ms_store_stack(&ms_kstacks, w, &ms_kstacks_full, &ms_kstacks_collided, &added);
}

/* At a function's first instruction (a uprobe on malloc) the function has not pushed its frame
 * yet, so a frame-pointer walk goes from the probed address straight to the caller's caller: the
 * immediate caller is lost. The return address at [sp] is that caller. */
static __always_inline __u64 ms_entry_return_address(struct pt_regs *regs)
{
	__u64 ra = 0;
	bpf_probe_read_user(&ra, sizeof(ra), (void *)PT_REGS_SP(regs));
	return ra;
}

/* A user stack captured at a function's entry, plus its immediate caller from [sp]. The stack's
 * frame 0 is the probed function; userspace shows caller in its place. stackmap is a
 * BPF_MAP_TYPE_STACK_TRACE map (ms_ustacks: build ids). */
static __always_inline __s32 ms_entry_user_stack(struct pt_regs *regs, void *stackmap, __u64 *caller)
{
	*caller = ms_entry_return_address(regs);
	return bpf_get_stackid(regs, stackmap, BPF_F_USER_STACK);
}

/* The key of every "count by stack" map; mirrored by STACK_KEY in src/engine/stack-counts.ts. */
struct ms_stack_key {
	__u32 tgid;
	__s32 ustack; /* negative: not captured or not wanted */
	__s32 kstack;
	char comm[TASK_COMM_LEN];
};

/* Adds delta to the current task's entry in a map keyed by struct ms_stack_key; entry: the event is
 * at a function's first instruction (a uprobe on a function). */
static __always_inline void ms_count_stack_at(void *map, void *ctx, __u32 tgid, bool user, bool kernel, __u64 delta, bool entry)
{
	struct ms_stack_key key = { .tgid = tgid, .ustack = -1, .kstack = -1 };
	if (user && ms_plain_ustacks) {
		ms_note_process_once(tgid);
		key.ustack = ms_walk_user_stack(entry);
	} else if (user) {
		ms_note_process(tgid);
		key.ustack = ms_user_stack_at(ctx, entry);
	}
	if (kernel)
		key.kstack = ms_kernel_stack(ctx);
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	ms_map_add(map, &key, delta);
}

static __always_inline void ms_count_stack(void *map, void *ctx, __u32 tgid, bool user, bool kernel, __u64 delta)
{
	ms_count_stack_at(map, ctx, tgid, user, kernel, delta, false);
}

/* DWARF samples and the executable-mapping notes that walked and DWARF stacks send: they use
 * and complete what is declared above (ms_send_mapping, ms_send_stack_mappings, ms_dwarf_note_maps),
 * so they are included here, after it, and never on their own. */
#include "stack_samples.h"

#endif
