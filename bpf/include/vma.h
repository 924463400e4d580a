/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The vma holding a user address, named as /proc/PID/maps names it, from any program that runs
 * in the faulting task (page-fault tracepoints, perf software events).
 *
 * bpf_find_vma() is costly where it is called with interrupts off (page_fault_user and the perf
 * page-fault handler both are): it must defer its mmap_lock release to an irq_work, a self-IPI per
 * call, which in a VM is an exit to the hypervisor (measured here: ~6 us per fault). So answers are
 * kept in a small direct-mapped cache per CPU (slot = hash of process and 2 MiB of address space)
 * and reused while the mm's mmap_lock sequence (bumped by every mmap write lock: mmap, munmap,
 * mprotect, brk, stack growth) has not moved. Where the kernel has no such sequence (before 6.13),
 * nothing is cached. A slot can also carry a count of events on its vma that a tool has not yet
 * moved into its own maps ("pending"): a hit then costs one array slot and one add.
 * Caveat: with interrupts off, bpf_find_vma uses one irq_work per CPU for every BPF user, so while
 * another program on the same event holds it (another memscope, build-id stacks), a lookup answers
 * -EBUSY: one memscope would change another's counts (issue 10). The fault tools therefore prefer
 * the perf software event "page-faults": its programs run with interrupts on, after the kernel
 * decided the fault is real and before it takes the mmap lock, so bpf_find_vma needs no irq_work
 * and only a writer holding the mmap lock can make it fail. Such writers are the process itself
 * (mmap, munmap, mprotect, brk) and, from outside, uprobe registration: the kernel write-locks, one
 * at a time, every mm that maps the probed file (register_for_each_vma), so any tracer attaching a
 * uprobe to libc (memleak, trace 'u:...') can make a lookup in an unrelated process answer -EBUSY.
 * Those faults are counted as busy and reported, never guessed. It also counts the faults the kernel
 * takes on user memory (copy_to_user into a fresh page), as the book's handle_mm_fault kprobe did. */
#ifndef MEMSCOPE_VMA_H
#define MEMSCOPE_VMA_H

#include "memscope.h"

#define MS_VMA_NAME_LEN 64
#define MS_VMA_REGION_SHIFT 21
#define MS_VMA_SLOTS 1024 /* a power of two */

/* include/linux/mm.h: a #define, so not in BTF; it has been bit 22 since 2.6 */
#define VM_HUGETLB 0x00400000UL

struct ms_vma {
	__u64 start;
	__u64 end;
	__u64 flags; /* vm_flags */
	char name[MS_VMA_NAME_LEN];
};

/* Mirrored by VMA_SLOT in src/tools/ffaults.ts. */
struct ms_vma_slot {
	__u64 mm;      /* 0: holds nothing reusable */
	__u64 tgid;
	__u64 seq;     /* the mm's mmap_lock sequence when filled */
	__u64 pending; /* events on this vma a tool has not yet moved to its maps */
	struct ms_vma vma;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ms_vma_slot);
	__uint(max_entries, MS_VMA_SLOTS);
} ms_vma_slots SEC(".maps");

/* Lookups the cache could not answer (bpf_find_vma calls); userspace may report them. */
__u64 ms_vma_walks = 0;

#define MS_VMA_SET(v, lit) __builtin_memcpy((v)->name, lit, sizeof(lit))

static long ms_vma_fill(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct ms_vma *v = data;
	v->start = BPF_CORE_READ(vma, vm_start);
	v->end = BPF_CORE_READ(vma, vm_end);
	v->flags = BPF_CORE_READ(vma, vm_flags);
	struct file *file = BPF_CORE_READ(vma, vm_file);
	if (file) {
		bpf_probe_read_kernel_str(v->name, MS_VMA_NAME_LEN, BPF_CORE_READ(file, f_path.dentry, d_name.name));
		return 0;
	}
	struct mm_struct *mm = BPF_CORE_READ(vma, vm_mm);
	/* fs/proc/task_mmu.c's tests: the vma overlapping [start_brk, brk], the one holding start_stack */
	if (v->start <= BPF_CORE_READ(mm, brk) && v->end >= BPF_CORE_READ(mm, start_brk)) {
		MS_VMA_SET(v, "[heap]");
		return 0;
	}
	unsigned long stack = BPF_CORE_READ(mm, start_stack);
	if (v->start <= stack && v->end >= stack) {
		MS_VMA_SET(v, "[stack]");
		return 0;
	}
	/* special mappings keep their struct vm_special_mapping (named "[vdso]", ...) as private data */
	const struct vm_special_mapping *sm = BPF_CORE_READ(vma, vm_private_data);
	if (sm) {
		const char *name = BPF_CORE_READ(sm, name);
		if (name && bpf_probe_read_kernel_str(v->name, MS_VMA_NAME_LEN, name) > 1 && v->name[0] == '[')
			return 0;
	}
	MS_VMA_SET(v, "[anon]");
	return 0;
}

/* The current process's mm and its mmap_lock sequence (odd while write-locked); the sequence is
 * 1 ("locked": do not cache) where the kernel has no seqcount for it. */
static __always_inline struct mm_struct *ms_current_mm(__u64 *seq)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = task->mm;
	*seq = 1;
	if (mm && bpf_core_field_exists(mm->mm_lock_seq.sequence))
		*seq = mm->mm_lock_seq.sequence;
	return mm;
}

/* The cache slot for (tgid, addr) on this CPU. */
static __always_inline struct ms_vma_slot *ms_vma_slot(__u32 tgid, __u64 addr)
{
	__u64 h = ((addr >> MS_VMA_REGION_SHIFT) ^ ((__u64)tgid << 20)) * 0x9E3779B97F4A7C15ULL;
	__u32 idx = (h >> 40) & (MS_VMA_SLOTS - 1);
	return bpf_map_lookup_elem(&ms_vma_slots, &idx);
}

/* The slot already describes addr's vma in this mm, unchanged since. */
static __always_inline bool ms_vma_hit(struct ms_vma_slot *s, __u32 tgid, struct mm_struct *mm, __u64 seq, __u64 addr)
{
	return s->mm == (__u64)mm && s->tgid == tgid && s->seq == seq && s->vma.start <= addr && addr < s->vma.end;
}

/* Looks addr's vma up with bpf_find_vma and stores it in the slot (reusable only when the sequence
 * allows: else slot->mm is 0). 0, or -ENOENT (no vma holds addr), -EBUSY (mmap lock or the per-CPU
 * irq_work taken): then the slot holds nothing. The caller has dealt with slot->pending. */
static __always_inline long ms_vma_refill(struct ms_vma_slot *s, __u32 tgid, struct mm_struct *mm, __u64 seq, __u64 addr)
{
	__sync_fetch_and_add(&ms_vma_walks, 1);
	s->mm = 0;
	s->pending = 0;
	/* the callback context must be on the BPF stack */
	struct ms_vma v = {};
	long err = bpf_find_vma(bpf_get_current_task_btf(), addr, ms_vma_fill, &v, 0);
	if (err)
		return err;
	__builtin_memcpy(&s->vma, &v, sizeof(v));
	s->seq = seq;
	s->tgid = tgid;
	s->mm = (seq & 1) ? 0 : (__u64)mm;
	return 0;
}

/* The shared start of a fault tool's program (ffaults, hfaults): the current process, its mm and
 * mmap_lock sequence, and this CPU's cache slot for addr; NULL when the process is not traced.
 * *hit says whether the slot already describes addr's vma; if not, the caller moves out what the
 * slot holds and calls ms_vma_refill(slot, f->tgid, f->mm, f->seq, addr). */
struct ms_fault {
	__u32 tgid;
	bool hit;
	struct mm_struct *mm;
	__u64 seq;
};

static __always_inline struct ms_vma_slot *ms_fault_slot(__u64 addr, struct ms_fault *f)
{
	f->tgid = bpf_get_current_pid_tgid() >> 32;
	if (!f->tgid || !ms_traced(f->tgid))
		return NULL;
	f->mm = ms_current_mm(&f->seq);
	struct ms_vma_slot *s = ms_vma_slot(f->tgid, addr);
	if (s)
		f->hit = ms_vma_hit(s, f->tgid, f->mm, f->seq, addr);
	return s;
}

#endif
