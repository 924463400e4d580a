/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The second half of stacks.h, included at its end (never on its own): DWARF samples for
 * userspace unwinding, and the executable-mapping notes that let walked and DWARF stacks be
 * symbolized after their process exited. */
#ifndef MEMSCOPE_STACK_SAMPLES_H
#define MEMSCOPE_STACK_SAMPLES_H

#ifndef MEMSCOPE_STACKS_H
#error "include stacks.h, which includes this file"
#endif

/* ---- DWARF unwinding (src/unwind/): the user registers and the top of the user stack are copied
 * into a ring buffer at the event, and memscope unwinds them with each module's CFI in userspace,
 * so stacks go through code built without frame pointers (Debian's libc). Off by default: tools
 * that offer --unwind set ms_unwind before load. Records: struct ms_dwarf_sample, mirrored by the
 * OFF_* offsets in src/unwind/dwarf-stacks.ts. Memory is bounded by the ring's size (set by
 * userspace): an event that finds it full falls back to its frame-pointer stack (counted). */
#define MS_UNWIND_FP 0
#define MS_UNWIND_DWARF 1
#define MS_UNWIND_AUTO 2
#define MS_DWARF_STACK_MAX 16384
#define MS_DWARF_REGS 17 /* DWARF x86_64 numbering: 0-15 general registers, 16 = rip */

const volatile __u32 ms_unwind = MS_UNWIND_FP;
const volatile __u32 ms_unwind_bytes = 8192;  /* stack bytes copied per event (<= MS_DWARF_STACK_MAX) */
const volatile __u64 ms_unwind_rate = 1000;   /* auto: DWARF samples per second per CPU, then frame pointers */
/* A sample carries its frame-pointer stack too (ms_user_stack), for when its process's mappings
 * are never known. A tool whose ms_ustacks has no room for it (memleak: 1 entry) turns this off:
 * bpf_get_stackid walks the whole user stack through perf's callchain code before it finds the
 * map full, a third of a sample's cost (measured: 11.1 -> 7 us per sample). */
const volatile bool ms_sample_fp_stack = true;
#define MS_USTACK_NOT_TAKEN (-61) /* -ENODATA: the sample carries no frame-pointer stack */

__u64 ms_dwarf_samples_sent = 0;
__u64 ms_dwarf_over_rate = 0;   /* auto mode: events that used frame pointers because of the rate */
__u64 ms_dwarf_ring_full = 0;   /* events that used frame pointers because the ring buffer was full */
/* every event ms_count_stack_unwind saw: the end-of-run accounting checks that the events counted,
 * fallen back and dropped add up to it */
__u64 ms_events_seen = 0;

/* a per-event stack id meaning "this event's user stack went to ms_dwarf_samples" */
#define MS_USTACK_DWARF (-2)

#define MS_DWARF_KIND_SAMPLE 1
#define MS_DWARF_KIND_MAP 2
#define MS_DWARF_KIND_STACK 3
#define MS_DWARF_KIND_EXIT 4

struct ms_dwarf_sample {
	__u32 kind;                    /* MS_DWARF_KIND_SAMPLE */
	__u32 tgid;
	__u32 tid;
	__s32 kstack;
	__u64 delta;
	__u32 size;                    /* bytes of stack[] that were copied, from base up */
	__s32 ustack;                  /* the frame-pointer stack too: used if the maps are never known */
	__u64 regs[MS_DWARF_REGS];
	char comm[TASK_COMM_LEN];
	__u64 base;                    /* user address of stack[0]: rsp, or the page above it */
	__u64 start_stack;             /* mm->start_stack: which program image the sample is of. A
					* /proc/PID/maps read after an exec is of another image (its
					* startstack in /proc/PID/stat differs: the stack is placed anew) */
	__u8 stack[MS_DWARF_STACK_MAX];
};

/* An executable file mapping of a process, sent (in the same ring buffer, so before the samples
 * that need it) whenever the process's executable mappings changed: userspace then knows them
 * even when the process has exited before it could read /proc/PID/maps. */
struct ms_dwarf_map {
	__u32 kind;                    /* MS_DWARF_KIND_MAP */
	__u32 tgid;
	__u64 start;
	__u64 end;
	__u64 pgoff;                   /* in pages */
	__u64 ino;
	struct ms_proc_note path;      /* the file's path, leaf first (as process notes) */
	/* The same file found again after its process exited (/proc/PID/root is gone with it): its
	 * superblock's device and its path from that superblock's root, mounts ignored, which userspace
	 * looks up in its own mounts of the device (a container's file, overlayfs's backing file on the
	 * host's disk, lives in a layer directory no mount namespace shows). Trusted only if the inode
	 * number and size match. */
	__u32 dev;                     /* i_sb->s_dev (the kernel's encoding: major << 20 | minor) */
	__u32 sb_whole;                /* 1: sb_path reaches the superblock's root (not cut at MS_PATH_DEPTH) */
	__u64 size;                    /* i_size */
	struct ms_proc_note sb_path;   /* leaf first, as path */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* resized by userspace when DWARF unwinding is on */
} ms_dwarf_samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ms_dwarf_sample);
	__uint(max_entries, 1);
} ms_dwarf_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ms_dwarf_map);
	__uint(max_entries, 1);
} ms_dwarf_map_scratch SEC(".maps");

/* tgid → its mm and mm->exec_vm when its executable mappings were last sent (sized by userspace
 * when on). The mm too: a process that execs the same program keeps its tgid and exec_vm, but every
 * mapping moves (ASLR). */
struct ms_exec_seen {
	__u64 mm;
	__u64 exec_vm;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct ms_exec_seen);
	__uint(max_entries, 1);
} ms_dwarf_exec_vm SEC(".maps");

extern int bpf_iter_task_vma_new(struct bpf_iter_task_vma *it, struct task_struct *task, __u64 addr) __ksym __weak;
extern struct vm_area_struct *bpf_iter_task_vma_next(struct bpf_iter_task_vma *it) __ksym __weak;
extern void bpf_iter_task_vma_destroy(struct bpf_iter_task_vma *it) __ksym __weak;

#define MS_VM_EXEC 0x4

/* One step up the dentry tree towards the superblock's root, mounts ignored (ms_dwarf_map's
 * sb_path); 1 ends the walk, at the root (said by w->vmnt set to NULL) or at MS_PATH_DEPTH. */
static long ms_sb_path_step(__u32 i, void *arg)
{
	struct ms_path_walk *w = arg;
	struct ms_proc_note *note = w->note;
	struct dentry *d = w->d;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == parent) {
		w->vmnt = NULL; /* the root reached: the path is whole */
		return 1;
	}
	if (!note || note->depth >= MS_PATH_DEPTH)
		return 1;
	bpf_probe_read_kernel_str(note->comps[note->depth & (MS_PATH_DEPTH - 1)], MS_NAME_LEN,
				  BPF_CORE_READ(d, d_name.name));
	note->depth++;
	w->d = parent;
	return 0;
}

/* Sends one executable mapping (struct ms_dwarf_map) of tgid to userspace, with its file's path;
 * file NULL is the vDSO (ino 0, no path). Returns bpf_ringbuf_output's result. */
static __always_inline long ms_send_mapping(struct ms_dwarf_map *n, __u32 tgid, __u64 start, __u64 end, __u64 pgoff,
					    struct file *file)
{
	n->kind = MS_DWARF_KIND_MAP;
	n->tgid = tgid;
	n->start = start;
	n->end = end;
	n->pgoff = pgoff;
	n->ino = 0;
	n->path.tgid = tgid;
	n->path.depth = 0;
	n->dev = 0;
	n->sb_whole = 0;
	n->size = 0;
	n->sb_path.tgid = tgid;
	n->sb_path.depth = 0;
	if (file) {
		n->ino = BPF_CORE_READ(file, f_inode, i_ino);
		n->dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
		n->size = BPF_CORE_READ(file, f_inode, i_size);
		struct ms_path_walk w = {
			.d = BPF_CORE_READ(file, f_path.dentry),
			.vmnt = BPF_CORE_READ(file, f_path.mnt),
			.note = &n->path,
		};
		w.start = w.d;
		bpf_loop(MS_PATH_DEPTH + 8, ms_path_step, &w, 0);
		/* the same walk struct again (no more stack: the verifier's 512-byte chain is near) */
		w.d = w.start;
		w.note = &n->sb_path;
		bpf_loop(MS_PATH_DEPTH, ms_sb_path_step, &w, 0);
		n->sb_whole = !w.vmnt;
	}
	long err = bpf_ringbuf_output(&ms_dwarf_samples, n, sizeof(*n), ms_ring_flags(&ms_dwarf_samples));
	if (err)
		__sync_fetch_and_add(&ms_notes_lost, 1);
	return err;
}

/* Sends the process's executable file mappings when they changed since the last time. */
static __always_inline void ms_dwarf_note_maps(struct task_struct *task, __u32 tgid)
{
	__u32 zero = 0;
	/* a direct BTF load (the task pointer is trusted): cheaper than a probe read on the hot path */
	struct ms_exec_seen now = { .mm = (__u64)task->mm, .exec_vm = task->mm->exec_vm };
	struct ms_exec_seen *last = bpf_map_lookup_elem(&ms_dwarf_exec_vm, &tgid);
	if (last && last->exec_vm == now.exec_vm && last->mm == now.mm)
		return;
	struct ms_dwarf_map *n = bpf_map_lookup_elem(&ms_dwarf_map_scratch, &zero);
	if (!n || !bpf_iter_task_vma_new)
		return;
	struct bpf_iter_task_vma it;
	struct vm_area_struct *vma;
	int found = 0;
	bpf_iter_task_vma_new(&it, task, 0);
	while ((vma = bpf_iter_task_vma_next(&it))) {
		struct file *f = vma->vm_file;
		if (!(vma->vm_flags & MS_VM_EXEC))
			continue;
		if (!f) {
			/* the vDSO (no file): sent with ino 0 and no path */
			if (vma->vm_start == (__u64)BPF_CORE_READ(task, mm, context.vdso))
				ms_send_mapping(n, tgid, vma->vm_start, vma->vm_end, vma->vm_pgoff, NULL);
			continue;
		}
		if (!ms_send_mapping(n, tgid, vma->vm_start, vma->vm_end, vma->vm_pgoff, f))
			found = 1;
	}
	bpf_iter_task_vma_destroy(&it);
	/* not seen (the mmap lock was busy, the ring full): try again at the next event */
	if (found)
		bpf_map_update_elem(&ms_dwarf_exec_vm, &tgid, &now, BPF_ANY);
}

/* Sends the executable mappings the frames of the stack in ms_walk_scratch lie in (once each), found
 * with bpf_find_vma, which works in fault handlers where the vma iterator does not. */
struct ms_found_vma {
	/* first, so the struct is also the ms_sent_maps key (struct ms_sent_key), and pad the 0 a
	 * scratch lookup needs: no more stack (the verifier's 512-byte chain is near) */
	__u32 tgid;
	__u32 pad;
	__u64 start;
	__u64 end;
	__u64 pgoff;
	__u64 flags;
	struct file *file;
};

static long ms_found_vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct ms_found_vma *f = data;
	f->start = BPF_CORE_READ(vma, vm_start);
	f->end = BPF_CORE_READ(vma, vm_end);
	f->pgoff = BPF_CORE_READ(vma, vm_pgoff);
	f->flags = BPF_CORE_READ(vma, vm_flags);
	f->file = BPF_CORE_READ(vma, vm_file);
	return 0;
}

/* the mappings already looked up in one scan (a stack passes through a few modules); 4, not 8: the
 * scan's state is on the stack of a subprogram that sits under a tool's own calls, and the verifier
 * refuses a chain of frames over 512 bytes (on 6.18.44, stackcount's: 528) */
#define MS_SENT_RANGES 4

/* (process, mapping start) → the mm it was sent for: each mapping is sent once per process image
 * (sized by userspace with walked stacks) */
struct ms_sent_key {
	__u32 tgid;
	__u32 pad;
	__u64 start;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ms_sent_key);
	__type(value, __u64);
	__uint(max_entries, 1);
} ms_sent_maps SEC(".maps");

struct ms_frame_scan {
	struct ms_walked_stack *w;
	__u64 vdso;
	__u64 mm;
	__u32 tgid;
	__u32 next;
	__u64 lo[MS_SENT_RANGES];
	__u64 hi[MS_SENT_RANGES];
};

static long ms_frame_scan_step(__u32 i, void *arg)
{
	struct ms_frame_scan *st = arg;
	struct ms_walked_stack *w = st->w;
	__u64 k = i;
	asm volatile("" : "+r"(k)); /* the bounds check below must apply to the register that indexes */
	if (!w || k >= MS_STACK_DEPTH || k >= w->nr)
		return 1;
	__u64 addr = w->ips[k];
	for (int j = 0; j < MS_SENT_RANGES; j++)
		if (st->lo[j] <= addr && addr < st->hi[j])
			return 0;
	struct ms_found_vma f = { .tgid = st->tgid };
	if (bpf_find_vma(bpf_get_current_task_btf(), addr, ms_found_vma_cb, &f, 0) || f.end <= f.start)
		return 0;
	__u32 slot = st->next++ & (MS_SENT_RANGES - 1);
	st->lo[slot] = f.start;
	st->hi[slot] = f.end;
	if (!(f.flags & MS_VM_EXEC) || (!f.file && f.start != st->vdso))
		return 0;
	struct ms_sent_key *key = (struct ms_sent_key *)&f; /* { tgid, pad, start } */
	__u64 *sent = bpf_map_lookup_elem(&ms_sent_maps, key);
	if (sent && *sent == st->mm)
		return 0;
	struct ms_dwarf_map *n = bpf_map_lookup_elem(&ms_dwarf_map_scratch, &f.pad); /* 0 */
	if (!n)
		return 1;
	struct file *file = f.file; /* a local: CO-RE relocations apply to kernel types only */
	if (!ms_send_mapping(n, st->tgid, f.start, f.end, f.pgoff, file))
		bpf_map_update_elem(&ms_sent_maps, key, &st->mm, BPF_ANY);
	return 0;
}

static __noinline void ms_send_stack_mappings(__u32 tgid)
{
	__u32 zero = 0;
	struct ms_frame_scan st = { .tgid = tgid };
	st.w = bpf_map_lookup_elem(&ms_walk_scratch, &zero);
	if (!st.w)
		return;
	struct task_struct *task = bpf_get_current_task_btf();
	st.mm = (__u64)task->mm;
	st.vdso = (__u64)BPF_CORE_READ(task, mm, context.vdso);
	bpf_loop(MS_STACK_DEPTH, ms_frame_scan_step, &st, 0);
}

/* A walked user stack stored for the first time (ms_walk_user_stack), sent after the mappings its
 * frames lie in: userspace pins the stack to them as it arrives (stackCounts' noteNew), while the
 * process's mappings are surely known, and never has to read a whole count map to find the stacks
 * it has not pinned yet. A note the full ring refused is counted: userspace then looks for the
 * stacks it missed in the count map (rarely: that read is what the notes save). */
struct ms_stack_note {
	__u32 kind;                    /* MS_DWARF_KIND_STACK */
	__u32 tgid;
	__s32 ustack;                  /* the id in ms_walked_ustacks */
	__u32 image;                   /* the stack's program image (struct ms_walked_stack's) */
};

__u64 ms_stack_notes_lost = 0;
/* never written: a global of the type makes clang emit the struct's BTF (a local's type is not
 * emitted), against which memscope checks its TypeScript mirror when the object opens */
struct ms_stack_note ms_stack_note_layout = {};

static __always_inline void ms_note_new_stack(__u32 tgid, __s32 id, __u32 image)
{
	struct ms_stack_note n = { .kind = MS_DWARF_KIND_STACK, .tgid = tgid, .ustack = id, .image = image };
	if (bpf_ringbuf_output(&ms_dwarf_samples, &n, sizeof(n), ms_ring_flags(&ms_dwarf_samples)))
		__sync_fetch_and_add(&ms_stack_notes_lost, 1);
}

/* A traced process ended: its last thread is in do_exit, past every fault of its own, so nothing
 * of it follows this note on the ring (struct ms_stack_note, kind MS_DWARF_KIND_EXIT, ustack 0).
 * Userspace keeps a process's mappings while records of it may still be on their way (a stack
 * note whose mappings were sent earlier, when a stack of the same program was first stored), and
 * forgets ended processes' first when it must forget some (MEMSCOPE_MAX_PROCESSES): forgetting one
 * still running could leave its next stack note with no mappings once it exits. Attached by
 * DwarfStacks.listen (src/unwind/dwarf-stacks.ts); a lost note only makes the process an ordinary
 * eviction candidate again. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(ms_note_exit, struct task_struct *p)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	/* signal->live reaches 0 in the group's last thread to exit (the tracepoint's group_dead,
	 * read so on kernels whose tracepoint does not pass it too) */
	/* the filter of events (ms_traced_process): a process none of whose events is traced (the
	 * agent's own children among them) has no end to tell */
	if (BPF_CORE_READ(p, signal, live.counter) != 0 || !ms_traced_process(tgid))
		return 0;
	struct ms_stack_note n = { .kind = MS_DWARF_KIND_EXIT, .tgid = tgid };
	bpf_ringbuf_output(&ms_dwarf_samples, &n, sizeof(n), ms_ring_flags(&ms_dwarf_samples));
	return 0;
}

struct ms_dwarf_window {
	__u64 start;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ms_dwarf_window);
	__uint(max_entries, 1);
} ms_dwarf_rate SEC(".maps");

struct ms_vma_end {
	__u64 end;
};

static long ms_vma_end_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	((struct ms_vma_end *)data)->end = BPF_CORE_READ(vma, vm_end);
	return 0;
}

/* auto mode: true while this CPU has sent fewer than ms_unwind_rate samples in the current second */
static __always_inline bool ms_dwarf_within_rate(void)
{
	__u32 zero = 0;
	struct ms_dwarf_window *w = bpf_map_lookup_elem(&ms_dwarf_rate, &zero);
	if (!w)
		return false;
	__u64 now = bpf_ktime_get_ns();
	if (now - w->start >= 1000000000ULL) {
		w->start = now;
		w->count = 0;
	}
	if (w->count >= ms_unwind_rate)
		return false;
	w->count++;
	return true;
}

/* Copies the user registers and stack of the current task into the DWARF ring buffer.
 * Returns 0 when a sample was sent; non-zero means the caller should use frame pointers. */
static __always_inline int ms_dwarf_sample(void *ctx, __u32 tgid, bool kernel, __u64 delta)
{
	__u32 zero = 0;
	if (ms_unwind == MS_UNWIND_AUTO && !ms_dwarf_within_rate()) {
		__sync_fetch_and_add(&ms_dwarf_over_rate, 1);
		return 1;
	}
	struct ms_dwarf_sample *s = bpf_map_lookup_elem(&ms_dwarf_scratch, &zero);
	if (!s)
		return 1;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	/* the user registers read into the sample's stack buffer (filled later), not onto the BPF
	 * stack: 168 bytes there put the tools' calls over the verifier's 512 (stackcount's did) */
	struct pt_regs *rr = (struct pt_regs *)s->stack;
	if (bpf_probe_read_kernel(rr, sizeof(*rr), regs))
		return 1;
	s->regs[0] = rr->ax;  s->regs[1] = rr->dx;  s->regs[2] = rr->cx;  s->regs[3] = rr->bx;
	s->regs[4] = rr->si;  s->regs[5] = rr->di;  s->regs[6] = rr->bp;  s->regs[7] = rr->sp;
	s->regs[8] = rr->r8;  s->regs[9] = rr->r9;  s->regs[10] = rr->r10; s->regs[11] = rr->r11;
	s->regs[12] = rr->r12; s->regs[13] = rr->r13; s->regs[14] = rr->r14; s->regs[15] = rr->r15;
	s->regs[16] = rr->ip;
	struct { __u64 sp; } r = { .sp = rr->sp };
	ms_dwarf_note_maps(task, tgid);
	s->kind = MS_DWARF_KIND_SAMPLE;
	s->tgid = tgid;
	s->tid = (__u32)bpf_get_current_pid_tgid();
	s->delta = delta;
	s->kstack = kernel ? ms_kernel_stack(ctx) : -1;
	s->ustack = ms_sample_fp_stack ? ms_user_stack(ctx) : MS_USTACK_NOT_TAKEN;
	bpf_get_current_comm(s->comm, sizeof(s->comm));

	/* copy no further than the end of the stack's mapping: a read past it would fail whole */
	__u64 want = ms_unwind_bytes;
	struct ms_vma_end ve = { .end = 0 };
	if (bpf_find_vma(task, r.sp, ms_vma_end_cb, &ve, 0) == 0 && ve.end > r.sp && ve.end - r.sp < want)
		want = ve.end - r.sp;
	if (want > MS_DWARF_STACK_MAX)
		want = MS_DWARF_STACK_MAX;
	__u32 size = want;
	__u64 base = r.sp;
	bool ok = false;
	if (size > 0 && size <= MS_DWARF_STACK_MAX)
		ok = bpf_probe_read_user(s->stack, size, (void *)base) == 0;
	if (!ok) {
		/* the page at rsp may be the one being faulted in (a stack growing): copy from the
		 * next page up, where the callers' frames are */
		__u64 next = (r.sp + 4096) & ~4095ULL;
		__u64 skip = next - r.sp;
		if (skip < size) {
			/* skip >= 1, so rest < MS_DWARF_STACK_MAX: the mask keeps it and tells the verifier */
			__u32 rest = (size - (__u32)skip) & (MS_DWARF_STACK_MAX - 1);
			if (rest > 0 && bpf_probe_read_user(s->stack, rest, (void *)next) == 0) {
				ok = true;
				base = next;
				size = rest;
			}
		}
	}
	/* the top of a stack that find_vma could not measure (it only try-locks the mmap lock): the
	 * main thread's frames all lie below mm->start_stack (argc), and every page from rsp up to the
	 * end of its page is in use, so copy that much; halving alone cut a copy to 4,096 bytes and the
	 * outermost frames with it */
	if (!ok) {
		__u64 top = (BPF_CORE_READ(task, mm, start_stack) | 4095ULL) + 1;
		if (top > r.sp && top - r.sp < size) {
			__u32 n = (__u32)(top - r.sp);
			if (n > 0 && n <= MS_DWARF_STACK_MAX && bpf_probe_read_user(s->stack, n, (void *)r.sp) == 0) {
				ok = true;
				size = n;
			}
		}
	}
	/* otherwise (another thread's stack): try smaller copies */
	for (int i = 0; i < 4 && !ok; i++) {
		size >>= 1;
		if (size == 0 || size > MS_DWARF_STACK_MAX)
			break;
		ok = bpf_probe_read_user(s->stack, size, (void *)r.sp) == 0;
	}
	if (!ok || size > MS_DWARF_STACK_MAX) {
		size = 0;
		base = r.sp;
	}
	s->base = base;
	s->size = size;
	s->start_stack = task->mm->start_stack; /* a NULL mm reads as 0 (BTF pointer) */
	__u64 len = offsetof(struct ms_dwarf_sample, stack) + (__u64)size;
	if (len > sizeof(*s))
		return 1;
	if (bpf_ringbuf_output(&ms_dwarf_samples, s, len, ms_ring_flags(&ms_dwarf_samples))) {
		__sync_fetch_and_add(&ms_dwarf_ring_full, 1);
		return 1;
	}
	__sync_fetch_and_add(&ms_dwarf_samples_sent, 1);
	return 0;
}

/* Per-event tools (mmapsnoop -U, oomkill): an event whose stack is a DWARF sample gets a number
 * of its own, written into the sample (its delta) and into the event's record, and userspace joins
 * the two on it (src/unwind/event-stacks.ts). The two go on different rings and either can be lost
 * on the way (the event's ring full at the syscall's exit, a sample arriving after its event
 * stopped waiting): joined by thread and order, the next event of the thread would get the lost
 * one's stack. */
__u64 ms_event_seq = 0;

/* ms_dwarf_sample for one event: its number (low 32 bits, never 0) when the sample was sent, 0
 * when the caller should use frame pointers. */
static __always_inline __u32 ms_dwarf_event_sample(void *ctx, __u32 tgid)
{
	__u32 seq = __sync_fetch_and_add(&ms_event_seq, 1) + 1;
	if (!seq) /* wrapped: 0 means "no sample" */
		seq = __sync_fetch_and_add(&ms_event_seq, 1) + 1;
	return ms_dwarf_sample(ctx, tgid, false, seq) == 0 ? seq : 0;
}

/* ms_count_stack, with DWARF unwinding when ms_unwind asks for it: the event goes to the
 * ms_dwarf_samples ring buffer (unwound and counted in userspace) or, when that is off, over the
 * rate or full, is counted in map by its frame-pointer stack as before. */
static __always_inline void ms_count_stack_unwind(void *map, void *ctx, __u32 tgid, bool kernel, __u64 delta)
{
	__sync_fetch_and_add(&ms_events_seen, 1);
	if (ms_unwind != MS_UNWIND_FP) {
		ms_note_process(tgid);
		if (ms_dwarf_sample(ctx, tgid, kernel, delta) == 0)
			return;
	}
	ms_count_stack(map, ctx, tgid, true, kernel, delta);
}

#endif
