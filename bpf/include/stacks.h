/* Stack capture, in one replaceable place.
 * User stacks are stored with build IDs: the kernel records (build id, file offset) for each
 * frame while the process is alive, so symbolization still works after the process exited.
 * Frames the kernel could not resolve fall back to plain addresses. */
#ifndef MEMSCOPE_STACKS_H
#define MEMSCOPE_STACKS_H

#include "memscope.h"

#define MS_STACK_DEPTH 127

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MS_STACK_DEPTH * sizeof(struct bpf_stack_build_id));
	__uint(max_entries, 2048);
	__uint(map_flags, BPF_F_STACK_BUILD_ID);
} ms_ustacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MS_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 2048);
} ms_kstacks SEC(".maps");

/* Returns a stack id, or a negative errno (-EFAULT: no user stack, -EEXIST/-ENOMEM: map full). */
static __always_inline __s32 ms_user_stack(void *ctx)
{
	return bpf_get_stackid(ctx, &ms_ustacks, BPF_F_USER_STACK);
}

static __always_inline __s32 ms_kernel_stack(void *ctx)
{
	return bpf_get_stackid(ctx, &ms_kstacks, 0);
}

/* The key of every "count by stack" map; mirrored by STACK_KEY in src/engine/stack-counts.ts. */
struct ms_stack_key {
	__u32 tgid;
	__s32 ustack; /* negative: not captured or not wanted */
	__s32 kstack;
	char comm[TASK_COMM_LEN];
};

/* Adds delta to the current task's entry in a map keyed by struct ms_stack_key. */
static __always_inline void ms_count_stack(void *map, void *ctx, __u32 tgid, bool user, bool kernel, __u64 delta)
{
	struct ms_stack_key key = { .tgid = tgid, .ustack = -1, .kstack = -1 };
	if (user) {
		ms_note_process(tgid);
		key.ustack = ms_user_stack(ctx);
	}
	if (kernel)
		key.kstack = ms_kernel_stack(ctx);
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	ms_map_add(map, &key, delta);
}

#endif
