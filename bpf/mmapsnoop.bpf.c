// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* mmapsnoop: one record per mmap() with its arguments, the mapped file's name (resolved here
 * from the fd while the file is certainly open) and the returned address; one per munmap().
 * For a file mapping, the file's full path goes first on the same ring buffer (struct
 * mmap_path_note), carrying a number the call's record carries too: userspace joins a record only
 * to the note of that very call. Joined to "the thread's next record", a note whose record was lost
 * (ring full) named the next call's file when that call's own note was lost too. */
#include "stacks.h"
#include "syscall_pair.h"

#define MAP_ANONYMOUS 0x20
#define NAME_LEN 64

const volatile bool want_ustack = false;

struct mmap_event {
	__u64 ts;
	__u64 addr;
	__u64 len;
	__u64 off;
	__s64 ret;
	__u64 path_seq; /* a file mmap(): the number its path note carries (0: none sent) */
	__u32 pid;
	__u32 tid;
	__u32 prot;
	__u32 flags;
	__s32 fd;
	__s32 ustack;
	__u32 kind;     /* KIND_MMAP or KIND_MUNMAP */
	__u32 seq;      /* ustack MS_USTACK_DWARF: the number its sample carries (ms_dwarf_event_sample) */
	char comm[TASK_COMM_LEN];
	char file[NAME_LEN];
};

MS_PENDING_MAP(pending, struct mmap_event);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

enum { KIND_MMAP = 0, KIND_MUNMAP = 1 };

/* A file's full path (note.tgid holds the thread id) and the number of the call it belongs to. */
struct mmap_path_note {
	struct ms_proc_note note;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mmap_path_note);
	__uint(max_entries, 1);
} path_scratch SEC(".maps");

/* File mmap() calls numbered from 1, one counter for all CPUs (an atomic add: a per-CPU count,
 * read and written back, could hand one number to two calls of a thread preempted in between). */
__u64 path_calls = 0;

static __always_inline __u64 next_path_seq(void)
{
	return __sync_fetch_and_add(&path_calls, 1) + 1;
}

/* The full path of the file being mapped, walked up its dentries and mounts (bpf_d_path is not
 * allowed in tracepoints), sent ahead of the call's record with the call's number, seq. */
static __always_inline void send_path(struct file *f, __u32 tid, __u64 seq)
{
	__u32 zero = 0;
	struct mmap_path_note *p = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!p || !f)
		return;
	struct ms_path_walk w = {
		.d = BPF_CORE_READ(f, f_path.dentry),
		.vmnt = BPF_CORE_READ(f, f_path.mnt),
		.note = &p->note,
	};
	p->note.tgid = tid;
	p->note.depth = 0;
	p->seq = seq;
	bpf_loop(MS_PATH_DEPTH + 8, ms_path_step, &w, 0);
	if (bpf_ringbuf_output(&events, p, sizeof(*p), 0))
		ms_count_lost();
}

/* The file's name into e->file and its path note on the ring, numbered e->path_seq (left 0 when
 * fd names no file: no note was sent, so none can be missing). */
static __always_inline void file_name(struct mmap_event *e)
{
	int fd = e->fd;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *f = NULL;
	if (fd < 0 || (unsigned int)fd >= max)
		return;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (f) {
		bpf_probe_read_kernel_str(e->file, NAME_LEN, BPF_CORE_READ(f, f_path.dentry, d_name.name));
		e->path_seq = next_path_seq();
		send_path(f, e->tid, e->path_seq);
	}
}

static __always_inline int on_enter(void *ctx, __u64 addr, __u64 len, __u64 prot, __u64 flags, __u64 fd, __u64 off)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!ms_traced(tgid))
		return 0;
	struct mmap_event e = {};
	e.pid = tgid;
	e.tid = tid;
	e.addr = addr;
	e.len = len;
	e.prot = prot;
	e.flags = flags;
	e.fd = (__s32)fd;
	e.off = off;
	e.ustack = -1;
	if (!(flags & MAP_ANONYMOUS))
		file_name(&e);
	if (want_ustack) {
		ms_note_process(tgid);
		/* DWARF: the stack is unwound in userspace and joined to this event by its number */
		if (ms_unwind != MS_UNWIND_FP && (e.seq = ms_dwarf_event_sample(ctx, tgid)))
			e.ustack = MS_USTACK_DWARF;
		else
			e.ustack = ms_user_stack(ctx);
	}
	ms_stash_call(&pending, &e);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	return MS_COMPLETE_CALL(pending, events, struct mmap_event, ret);
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int mmap_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4], ctx->args[5]);
}

static __always_inline int on_munmap(__u64 addr, __u64 len)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!ms_traced(id >> 32))
		return 0;
	struct mmap_event e = {};
	e.pid = id >> 32;
	e.tid = (__u32)id;
	e.addr = addr;
	e.len = len;
	e.fd = -1;
	e.ustack = -1;
	e.kind = KIND_MUNMAP;
	ms_stash_call(&pending, &e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_munmap")
int munmap_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	return on_munmap(ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_munmap")
int munmap_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int mmap_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

/* kernels without per-syscall tracepoints: the raw syscall hooks, filtered to mmap */
SEC("tp_btf/sys_enter")
int BPF_PROG(mmap_enter_btf, struct pt_regs *regs, long id)
{
	if (id == 11 /* __NR_munmap on x86_64 */)
		return on_munmap(BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si));
	if (id != 9 /* __NR_mmap on x86_64 */)
		return 0;
	return on_enter(ctx, BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si), BPF_CORE_READ(regs, dx),
			BPF_CORE_READ(regs, r10), BPF_CORE_READ(regs, r8), BPF_CORE_READ(regs, r9));
}

SEC("tp_btf/sys_exit")
int BPF_PROG(mmap_exit_btf, struct pt_regs *regs, long ret)
{
	return on_exit(ret);
}
