// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* profile: timed sampling of user and kernel stacks (BCC profile, perf record -F): a perf event
 * per CPU (software cpu-clock, or a hardware event with a period where a PMU exists) runs
 * profile_sample, which counts the interrupted task's stacks by process. */
#include "stacks.h"

const volatile bool user_stacks = true;
const volatile bool kernel_stacks = true;
const volatile bool include_idle = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_stack_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} stack_counts SEC(".maps");

/* -EFAULT from bpf_get_stackid means the stack does not exist at this sample (a kernel thread has
 * no user stack; a sample in user mode has no kernel stack), which is normal here, not a loss. */
static __always_inline __s32 present(__s32 id)
{
	return id == -14 ? -1 : id;
}

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	/* the idle task (pid 0) is left out as BCC does, unless -I */
	if (!include_idle && (__u32)id == 0)
		return 0;
	if (!ms_traced(tgid))
		return 0;
	struct ms_stack_key key = { .tgid = tgid, .ustack = -1, .kstack = -1 };
	if (user_stacks) {
		ms_note_process(tgid);
		key.ustack = present(ms_user_stack(ctx));
	}
	if (kernel_stacks)
		key.kstack = present(ms_kernel_stack(ctx));
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	ms_map_add(&stack_counts, &key, 1);
	return 0;
}
