// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* hfaults: huge page (hugetlbfs) faults counted by process — the book's hfaults, which used a
 * kprobe on hugetlb_fault. Here: the page-fault event (perf's "page-faults" first, which also sees
 * faults the kernel takes on user memory, e.g. read() into a MAP_HUGETLB buffer), and the vma lookup of include/vma.h
 * (bpf_find_vma, cached) tells whether the faulting address lies in a VM_HUGETLB mapping
 * (MAP_HUGETLB, SHM_HUGETLB or a file on a hugetlbfs mount). */
#include "vma.h"

struct hf_key {
	__u32 tgid;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct hf_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} hf_counts SEC(".maps");

/* Faults whose vma could not be looked at (mmap lock or bpf_find_vma's irq_work busy): reported. */
__u64 hf_busy = 0;

static __always_inline int hf_count(__u64 addr)
{
	struct ms_fault f;
	struct ms_vma_slot *s = ms_fault_slot(addr, &f);
	if (!s)
		return 0;
	if (!f.hit) {
		long err = ms_vma_refill(s, f.tgid, f.mm, f.seq, addr);
		if (err == -16 /* EBUSY */)
			__sync_fetch_and_add(&hf_busy, 1);
		if (err)
			return 0;
	}
	if (!(s->vma.flags & VM_HUGETLB))
		return 0;
	ms_cgroup_add(MS_CG_HUGETLB_FAULTS, 1);
	struct hf_key key = { .tgid = f.tgid };
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	ms_map_add(&hf_counts, &key, 1);
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(hf_fault_btf, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return hf_count(address);
}

SEC("tp/exceptions/page_fault_user")
int hf_fault_tp(struct trace_event_raw_exceptions *ctx)
{
	return hf_count(ctx->address);
}

SEC("perf_event")
int hf_fault_perf(struct bpf_perf_event_data *ctx)
{
	return hf_count(ctx->addr);
}
