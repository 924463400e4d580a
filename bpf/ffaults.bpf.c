// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ffaults: page faults counted by the name of the file backing the faulting address (the book's
 * ffaults, which read vma->vm_file from a kprobe on handle_mm_fault). Without kprobes the fault
 * event gives only the address: its vma is found with bpf_find_vma() through the per-CPU cache of
 * include/vma.h. Memory without a file is told apart as /proc/PID/maps does: [heap], [stack],
 * special mappings ([vdso], ...), else [anon].
 * A fault on a cached vma adds 1 to its slot's pending count; a slot's count moves into ff_counts
 * when the slot is refilled. Userspace adds ff_counts and the slots' pending counts by name.
 * Major faults (those that waited for I/O, or were retried) are counted apart in ff_majors, from
 * perf's software event major-faults, which the kernel raises once per completed fault
 * (mm_account_fault); they are rare, so each is looked up without the cache.
 * With ff_hugetlb (memscope agent), a fault on a hugetlb vma (VM_HUGETLB, the test of hfaults.bpf.c)
 * is also added to its memory cgroup's MS_CG_HUGETLB_FAULTS total: the agent then needs no second
 * program on every fault for them. */
#include "vma.h"

const volatile bool ff_hugetlb = false;

struct ff_key {
	/* the memory cgroup (kernfs id) the faulting process was noted in, for the CONTAINER column;
	 * 0 unless user space asked for it (ms_want_cgroups) */
	__u64 cgid;
	char name[MS_VMA_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ff_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} ff_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ff_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} ff_majors SEC(".maps");

#define FF_SET(k, lit) __builtin_memcpy((k)->name, lit, sizeof(lit))

/* The cgroup ms_traced() noted for process tgid (0 without the column). A slot's pending count is
 * moved by whichever process refills it, so the slot's owner is looked up, not the current task. */
static __always_inline __u64 ff_cgid(__u32 tgid)
{
	if (!ms_want_cgroups)
		return 0;
	__u64 *id = bpf_map_lookup_elem(&ms_pid_cgroup, &tgid);
	return id ? *id : 0;
}

static __always_inline void ff_add(void *map, __u32 tgid, const char *name, __u64 n)
{
	struct ff_key k = { .cgid = ff_cgid(tgid) };
	__builtin_memcpy(k.name, name, sizeof(k.name));
	ms_map_add(map, &k, n);
}

static __always_inline int ff_count(__u64 addr)
{
	struct ms_fault f;
	struct ms_vma_slot *s = ms_fault_slot(addr, &f);
	if (!s)
		return 0;
	if (f.hit) {
		s->pending++; /* per CPU; the program does not nest on its CPU */
		if (ff_hugetlb && (s->vma.flags & VM_HUGETLB))
			ms_cgroup_add(MS_CG_HUGETLB_FAULTS, 1);
		return 0;
	}
	if (s->pending)
		ff_add(&ff_counts, s->tgid, s->vma.name, s->pending);
	long err = ms_vma_refill(s, f.tgid, f.mm, f.seq, addr);
	if (!err) {
		if (ff_hugetlb && (s->vma.flags & VM_HUGETLB))
			ms_cgroup_add(MS_CG_HUGETLB_FAULTS, 1);
		if (s->mm)
			s->pending = 1;
		else
			ff_add(&ff_counts, f.tgid, s->vma.name, 1);
		return 0;
	}
	struct ff_key key = { .cgid = ff_cgid(f.tgid) };
	if (err == -2 /* ENOENT: no vma holds the address */) {
		/* a stack growing down faults below its vma, before the kernel extends it */
		struct task_struct *task = bpf_get_current_task_btf();
		unsigned long top = BPF_CORE_READ(task, mm, start_stack);
		unsigned long lim = BPF_CORE_READ(task, signal, rlim[3 /* RLIMIT_STACK */].rlim_cur);
		if (top && addr < top && top - addr <= lim) /* lim may be RLIM_INFINITY */
			FF_SET(&key, "[stack]");
		else
			FF_SET(&key, "[unmapped]");
	} else {
		/* EBUSY: the mmap lock was held for writing, or (tracepoint sources only, interrupts
		 * off) another BPF program held this CPU's bpf_find_vma irq_work */
		FF_SET(&key, "[vma busy]");
	}
	ms_map_add(&ff_counts, &key, 1);
	return 0;
}

/* perf software event "page-faults", sample period 1 (the default source, see vma.h): faults in
 * either mode on user addresses, as the book's handle_mm_fault kprobe counted. */
SEC("perf_event")
int ff_fault_perf(struct bpf_perf_event_data *ctx)
{
	return ff_count(ctx->addr);
}

/* user-mode faults only, and bpf_find_vma with interrupts off (see vma.h) */
SEC("tp_btf/page_fault_user")
int BPF_PROG(ff_fault_btf, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return ff_count(address);
}

SEC("tp/exceptions/page_fault_user")
int ff_fault_tp(struct trace_event_raw_exceptions *ctx)
{
	return ff_count(ctx->address);
}

/* perf software event "major-faults", period 1: interrupts are on (the fault is being accounted
 * after handle_mm_fault), so bpf_find_vma needs no irq_work. */
SEC("perf_event")
int ff_major_perf(struct bpf_perf_event_data *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!tgid || !ms_traced(tgid))
		return 0;
	struct ms_vma v = {};
	long err = bpf_find_vma(bpf_get_current_task_btf(), ctx->addr, ms_vma_fill, &v, 0);
	if (err == -2)
		MS_VMA_SET(&v, "[unmapped]");
	else if (err)
		MS_VMA_SET(&v, "[vma busy]");
	ff_add(&ff_majors, tgid, v.name, 1);
	return 0;
}
