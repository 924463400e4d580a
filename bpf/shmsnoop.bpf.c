// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shmsnoop: System V shared memory calls (shmget, shmat, shmdt, shmctl) with their arguments
 * and return values: one record per completed call. */
#include "syscall_pair.h"

enum shm_sys { SHMGET = 0, SHMAT = 1, SHMDT = 2, SHMCTL = 3 };

struct shm_event {
	__u64 ts;
	__s64 ret;
	__u64 args[3];
	__u32 pid;
	__u32 tid;
	__u32 sys;
	char comm[TASK_COMM_LEN];
};

MS_PENDING_MAP(pending, struct shm_event);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline int on_enter(__u32 sys, __u64 a0, __u64 a1, __u64 a2)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!ms_traced(tgid))
		return 0;
	struct shm_event e = { .pid = tgid, .tid = tid, .sys = sys, .args = { a0, a1, a2 } };
	ms_stash_call(&pending, &e);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	return MS_COMPLETE_CALL(pending, events, struct shm_event, ret);
}

/* A tracepoint program may read only the arguments its syscall has: the kernel refuses to attach
 * one that reads past the event (shmdt has a single argument). */
#define ARG(n, have) ((n) < (have) ? ctx->args[n] : 0)
#define SHM_TRACEPOINTS(name, SYS, NARGS)                                                  \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                        \
	int name##_enter(struct trace_event_raw_sys_enter *ctx)                            \
	{                                                                                  \
		return on_enter(SYS, ctx->args[0], ARG(1, NARGS), ARG(2, NARGS));          \
	}                                                                                  \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                         \
	int name##_exit(struct trace_event_raw_sys_exit *ctx)                              \
	{                                                                                  \
		return on_exit(ctx->ret);                                                  \
	}

SHM_TRACEPOINTS(shmget, SHMGET, 3)
SHM_TRACEPOINTS(shmat, SHMAT, 3)
SHM_TRACEPOINTS(shmdt, SHMDT, 1)
SHM_TRACEPOINTS(shmctl, SHMCTL, 3)

/* kernels without per-syscall tracepoints: the raw syscall hooks, filtered to the four calls */
SEC("tp_btf/sys_enter")
int BPF_PROG(shm_enter_btf, struct pt_regs *regs, long id)
{
	/* x86_64 numbers: shmget 29, shmat 30, shmctl 31, shmdt 67 */
	__u32 sys = id == 29 ? SHMGET : id == 30 ? SHMAT : id == 31 ? SHMCTL : id == 67 ? SHMDT : 99;
	if (sys == 99)
		return 0;
	return on_enter(sys, BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si), BPF_CORE_READ(regs, dx));
}

SEC("tp_btf/sys_exit")
int BPF_PROG(shm_exit_btf, struct pt_regs *regs, long ret)
{
	return on_exit(ret);
}
