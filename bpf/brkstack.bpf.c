// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* brkstack: brk() calls counted by user stack and process (the book's brkstack). */
#include "stacks.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_stack_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} brk_counts SEC(".maps");

static __always_inline int count_brk(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (ms_traced(tgid))
		ms_count_stack_unwind(&brk_counts, ctx, tgid, false, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_brk")
int brk_tracepoint(void *ctx)
{
	return count_brk(ctx);
}

/* For kernels without per-syscall tracepoints: every syscall, filtered to brk here. */
SEC("tp_btf/sys_enter")
int BPF_PROG(brk_sys_enter, struct pt_regs *regs, long id)
{
	if (id != 12 /* __NR_brk on x86_64 */)
		return 0;
	return count_brk(ctx);
}
