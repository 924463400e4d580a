/* ffaults: page faults counted by the name of the file backing the faulting address (the book's
 * ffaults, which read vma->vm_file from a kprobe on handle_mm_fault). Without kprobes the fault
 * event gives only the address: its vma is found through bpf_find_vma() (include/vma.h, cached).
 * Memory without a file is told apart as /proc/PID/maps does: [heap], [stack], special mappings
 * ([vdso], ...), else [anon]. */
#include "vma.h"

struct ff_key {
	char name[MS_VMA_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ff_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} ff_counts SEC(".maps");

#define FF_SET(k, lit) __builtin_memcpy((k)->name, lit, sizeof(lit))

static __always_inline int ff_count(__u64 addr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ms_traced(tgid))
		return 0;
	struct ms_vma v = {}; /* the whole name is the key: no stray bytes after its NUL */
	struct ff_key *key = (struct ff_key *)v.name;
	long err = ms_vma_of(tgid, addr, &v);
	if (err == -2 /* ENOENT: no vma holds the address */) {
		/* a stack growing down faults below its vma, before the kernel extends it */
		struct task_struct *task = bpf_get_current_task_btf();
		unsigned long top = BPF_CORE_READ(task, mm, start_stack);
		unsigned long lim = BPF_CORE_READ(task, signal, rlim[3 /* RLIMIT_STACK */].rlim_cur);
		if (top && addr < top && addr + lim >= top)
			FF_SET(key, "[stack]");
		else
			FF_SET(key, "[unmapped]");
	} else if (err) {
		/* EBUSY: the mmap lock was held for writing, or another BPF program held this CPU's
		 * bpf_find_vma irq_work (build-id stack capture on the same event does) */
		FF_SET(key, "[vma busy]");
	}
	ms_map_add(&ff_counts, key, 1);
	return 0;
}

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

/* perf software event "page-faults", sample period 1: also counts faults the kernel takes on user
 * addresses (copy_to_user and friends), as the book's handle_mm_fault kprobe did. */
SEC("perf_event")
int ff_fault_perf(struct bpf_perf_event_data *ctx)
{
	return ff_count(ctx->addr);
}
