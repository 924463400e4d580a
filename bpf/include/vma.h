/* The vma holding a user address, named as /proc/PID/maps names it, from any program that runs
 * in the faulting task (page-fault tracepoints, perf software events).
 *
 * bpf_find_vma() is costly where it is called with interrupts off (page_fault_user and the perf
 * page-fault handler both are): it must defer its mmap_lock release to an irq_work, a self-IPI per
 * call, which in a VM is an exit to the hypervisor (measured here: ~6 us per fault). So answers are
 * cached per CPU and process, per 2 MiB of address space, and reused while the mm's mmap_lock
 * sequence (bumped by every mmap write lock: mmap, munmap, mprotect, brk, stack growth) has not
 * moved. Where the kernel has no such sequence, nothing is cached. One caveat: bpf_find_vma uses
 * one irq_work per CPU for every BPF user, so while another program on the same event holds it
 * (e.g. build-id stacks), a lookup answers -EBUSY. */
#ifndef MEMSCOPE_VMA_H
#define MEMSCOPE_VMA_H

#include "memscope.h"

#define MS_VMA_NAME_LEN 64
#define MS_VMA_CACHE_SHIFT 21

struct ms_vma {
	__u64 start;
	__u64 end;
	__u64 flags; /* vm_flags */
	char name[MS_VMA_NAME_LEN];
};

struct ms_vma_cache_key {
	__u32 tgid;
	__u32 pad;
	__u64 region; /* address >> MS_VMA_CACHE_SHIFT */
};

struct ms_vma_cached {
	__u64 mm;
	__u64 seq;
	struct ms_vma vma;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__type(key, struct ms_vma_cache_key);
	__type(value, struct ms_vma_cached);
	__uint(max_entries, 4096);
} ms_vma_cache SEC(".maps");

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

/* The mm's mmap_lock sequence (odd while write-locked on kernels where it is a seqcount), or 1
 * where the kernel has none (then nothing is cached: 1 is "locked"). */
static __always_inline __u32 ms_mm_seq(struct mm_struct *mm)
{
	__u32 seq = 1;
	if (bpf_core_field_exists(mm->mm_lock_seq))
		bpf_probe_read_kernel(&seq, sizeof(seq), __builtin_preserve_access_index(&mm->mm_lock_seq));
	return seq;
}

/* Fills *out with the vma holding addr in the current process. 0, or -ENOENT (no vma holds it),
 * -EBUSY (the mmap lock or the per-CPU irq_work was taken). */
static __always_inline long ms_vma_of(__u32 tgid, __u64 addr, struct ms_vma *out)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u32 seq = ms_mm_seq(mm);
	struct ms_vma_cache_key key = { .tgid = tgid, .region = addr >> MS_VMA_CACHE_SHIFT };
	struct ms_vma_cached *c = bpf_map_lookup_elem(&ms_vma_cache, &key);
	if (c && c->mm == (__u64)mm && c->seq == seq && !(seq & 1) && c->vma.start <= addr && addr < c->vma.end) {
		__builtin_memcpy(out, &c->vma, sizeof(*out));
		return 0;
	}
	__sync_fetch_and_add(&ms_vma_walks, 1);
	/* the callback context must be on the BPF stack */
	struct ms_vma v = {};
	long err = bpf_find_vma(task, addr, ms_vma_fill, &v, 0);
	if (err)
		return err;
	__builtin_memcpy(out, &v, sizeof(v));
	if (!(seq & 1)) {
		if (c) {
			c->mm = (__u64)mm;
			c->seq = seq;
			__builtin_memcpy(&c->vma, &v, sizeof(v));
		} else {
			struct ms_vma_cached fresh = { .mm = (__u64)mm, .seq = seq };
			__builtin_memcpy(&fresh.vma, &v, sizeof(v));
			bpf_map_update_elem(&ms_vma_cache, &key, &fresh, BPF_ANY);
		}
	}
	return 0;
}

#endif
