/* ffaults: page faults counted by the name of the file backing the faulting address (the book's
 * ffaults, which read vma->vm_file from a kprobe on handle_mm_fault). Without kprobes the fault
 * event gives only the address: bpf_find_vma() finds its vma. Memory without a file is told apart
 * as /proc/PID/maps does: [heap], [stack], special mappings ([vdso], [vvar], ...), else [anon]. */
#include "memscope.h"

#define FF_NAME_LEN 64

struct ff_key {
	char name[FF_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ff_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} ff_counts SEC(".maps");

struct ff_ctx {
	__u64 addr;
	struct ff_key key;
};

#define FF_SET(k, lit) __builtin_memcpy((k)->name, lit, sizeof(lit))

/* Runs with the vma holding ctx->addr (the mmap lock held for reading). */
static long ff_vma(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct ff_ctx *c = data;
	struct file *file = BPF_CORE_READ(vma, vm_file);
	if (file) {
		bpf_probe_read_kernel_str(c->key.name, FF_NAME_LEN, BPF_CORE_READ(file, f_path.dentry, d_name.name));
		return 0;
	}
	struct mm_struct *mm = BPF_CORE_READ(vma, vm_mm);
	unsigned long start = BPF_CORE_READ(vma, vm_start);
	unsigned long end = BPF_CORE_READ(vma, vm_end);
	/* the tests of fs/proc/task_mmu.c: the vma overlapping [start_brk, brk], the one holding start_stack */
	if (start <= BPF_CORE_READ(mm, brk) && end >= BPF_CORE_READ(mm, start_brk)) {
		FF_SET(&c->key, "[heap]");
		return 0;
	}
	unsigned long stack = BPF_CORE_READ(mm, start_stack);
	if (start <= stack && end >= stack) {
		FF_SET(&c->key, "[stack]");
		return 0;
	}
	/* special mappings keep their struct vm_special_mapping (its name: "[vdso]") as private data */
	const struct vm_special_mapping *sm = BPF_CORE_READ(vma, vm_private_data);
	if (sm) {
		const char *name = BPF_CORE_READ(sm, name);
		if (name && bpf_probe_read_kernel_str(c->key.name, FF_NAME_LEN, name) > 1 && c->key.name[0] == '[')
			return 0;
	}
	FF_SET(&c->key, "[anon]");
	return 0;
}

static __always_inline int ff_count(__u64 addr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ms_traced(tgid))
		return 0;
	struct ff_ctx c = { .addr = addr }; /* bpf_find_vma wants its callback context on the stack */
	struct task_struct *task = bpf_get_current_task_btf();
	long err = bpf_find_vma(task, addr, ff_vma, &c, 0);
	if (err == -2 /* ENOENT: no vma holds the address */) {
		/* a stack growing down faults below its vma before the kernel extends it */
		unsigned long top = BPF_CORE_READ(task, mm, start_stack);
		unsigned long lim = BPF_CORE_READ(task, signal, rlim[3 /* RLIMIT_STACK */].rlim_cur);
		if (top && addr < top && addr + lim >= top)
			FF_SET(&c.key, "[stack]");
		else
			FF_SET(&c.key, "[unmapped]");
	} else if (err) {
		/* EBUSY: another thread held the mmap lock for writing at that instant */
		FF_SET(&c.key, "[mmap lock busy]");
	}
	ms_map_add(&ff_counts, &c.key, 1);
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
 * addresses (copy_to_user and friends). */
SEC("perf_event")
int ff_fault_perf(struct bpf_perf_event_data *ctx)
{
	return ff_count(ctx->addr);
}
