/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* memleak's state and bookkeeping, shared by its process, sampler and kernel modes
 * (memleak.bpf.c, which includes this file once): load-time settings and overflow counters, the
 * allocs/combined/pending maps, recording and releasing an allocation, and the user-stack walk
 * that names a stack by a hash of its frames. */
#ifndef MEMSCOPE_MEMLEAK_STATE_H
#define MEMSCOPE_MEMLEAK_STATE_H

#include "stacks.h"

const volatile __u64 min_size = 0;
const volatile __u64 max_size = ~0ULL;
const volatile __u64 sample_every = 1;   /* record 1 in N allocations (-s N) */
/* -c: the target starts as memscope's gate shell; only what the command does after its exec counts */
const volatile bool wait_exec = false;
bool exec_seen = false;

/* Overflow counters, read by userspace every interval and reported once. */
__u64 allocs_full = 0;     /* an allocation not recorded: allocs map full */
__u64 combined_full = 0;   /* a stack total not kept: combined map full */
__u64 stacks_lost = 0;     /* a stack not captured (stack map full or collision) */
__u64 pending_full = 0;
__u64 sampled_unrecorded = 0; /* sampled blocks the process's sampler could not keep a record of */
__u64 sample_counter = 0;

struct ml_key {
	__u32 tgid;
	__s32 ustack;
	__s32 kstack;
	__u32 pad;
	__u64 caller;  /* return address at [sp] at entry (user frame 0), 0 if none */
};

struct ml_total {
	__u64 bytes;  /* weighted: bytes the recorded allocations stand for, outstanding */
	__u64 count;  /* weighted allocations, outstanding */
	__u64 alloc_bytes; /* every allocation since tracing began, freed or not (pprof's alloc_space) */
	__u64 alloc_count; /* (alloc_objects) */
};

struct ml_alloc {
	__u64 size;   /* as requested */
	__u64 bytes;  /* weight in bytes (= size unless sampled by the shim) */
	__u64 count;  /* weight in allocations (1 unless sampled by the shim) */
	__u64 ts;     /* bpf_ktime_get_ns() at allocation */
	struct ml_key key;
};

enum ml_kind { ML_PLAIN = 0, ML_REALLOC = 1, ML_POSIX_MEMALIGN = 2, ML_MMAP = 3 };

struct ml_pending {
	__u64 size;
	__u64 aux;     /* realloc: the old pointer; posix_memalign: the memptr argument */
	__u64 sp;      /* user sp at entry: the return of this call comes with sp + 8 */
	__u64 ret;     /* the return address at [sp] at entry */
	__u32 kind;
	__u32 record;  /* sampled and within the size bounds */
	__u32 active;  /* a call is in progress (the entry is kept between calls) */
	__u32 pad;
	struct ml_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct ml_alloc);
	__uint(max_entries, 262144);
} allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ml_key);
	__type(value, struct ml_total);
	__uint(max_entries, 65536);
} combined SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct ml_pending);
	__uint(max_entries, 65536);
} pending SEC(".maps");

__u64 next_sample = 0;

/* -s N: 1 call in N is recorded, the gaps between recorded calls drawn uniformly from
 * [N/2, 3N/2] so that a program whose calls repeat with a period that N divides is not always
 * sampled at the same call. */
static __always_inline bool ml_sampled(void)
{
	if (sample_every <= 1)
		return true;
	__u64 c = __sync_fetch_and_add(&sample_counter, 1);
	if (c < next_sample)
		return false;
	next_sample = c + sample_every / 2 + bpf_get_prandom_u32() % (sample_every | 1);
	return true;
}

static __always_inline bool ml_in_bounds(__u64 size)
{
	return size >= min_size && size <= max_size;
}

static __always_inline void ml_release(__u64 addr)
{
	struct ml_alloc *a = bpf_map_lookup_elem(&allocs, &addr);
	if (!a)
		return; /* allocated before tracing began, not sampled, or filtered: ignored */
	struct ml_key key = a->key;
	__u64 bytes = a->bytes, count = a->count;
	if (bpf_map_delete_elem(&allocs, &addr))
		return; /* another CPU released it first */
	struct ml_total *t = bpf_map_lookup_elem(&combined, &key);
	if (t) {
		__sync_fetch_and_sub(&t->bytes, bytes);
		__sync_fetch_and_sub(&t->count, count);
	}
}

static __always_inline void ml_record(__u64 addr, __u64 size, __u64 bytes, __u64 count, struct ml_key *key)
{
	struct ml_alloc a = { .size = size, .bytes = bytes, .count = count, .ts = bpf_ktime_get_ns(), .key = *key };
	struct ml_total *t = NULL;
	if (key->ustack != MS_USTACK_DWARF) /* a key per allocation: summed from allocs by userspace */
		t = bpf_map_lookup_elem(&combined, key);
	if (!t && key->ustack != MS_USTACK_DWARF) {
		struct ml_total zero = {};
		bpf_map_update_elem(&combined, key, &zero, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&combined, key);
		if (!t) {
			__sync_fetch_and_add(&combined_full, 1);
			return;
		}
	}
	if (bpf_map_update_elem(&allocs, &addr, &a, BPF_NOEXIST)) {
		/* an address handed out again without a free we saw (freed by a path not traced):
		 * the old allocation is gone */
		ml_release(addr);
		if (bpf_map_update_elem(&allocs, &addr, &a, BPF_NOEXIST)) {
			__sync_fetch_and_add(&allocs_full, 1);
			return;
		}
	}
	if (t) {
		__sync_fetch_and_add(&t->bytes, bytes);
		__sync_fetch_and_add(&t->count, count);
		__sync_fetch_and_add(&t->alloc_bytes, bytes);
		__sync_fetch_and_add(&t->alloc_count, count);
	}
}

bool target_noted = false;

/* ms_note_process, once for a single target (it is a map update on every call otherwise), and
 * the executable mappings whenever they changed (a cheap check): frames resolve, and frame-pointer
 * walks can be checked against CFI, even when the process exits before memscope reads its maps. */
static __always_inline void ml_note(__u32 tgid)
{
	ms_dwarf_note_maps(bpf_get_current_task_btf(), tgid);
	if (targ_tgid && target_noted)
		return;
	ms_note_process(tgid);
	if (targ_tgid)
		target_noted = true;
}

/* User stacks, walked here: a frame-pointer walk with bpf_probe_read_user, the stack named by a
 * hash of its return addresses, the addresses stored once per stack. Measured on this kernel it
 * costs a third of bpf_get_stackid() on a user stack (which goes through perf's callchain code),
 * and memleak takes a stack on every malloc. Frames are the return addresses from the caller's
 * frame up: the probed function and its immediate caller are not in them (frame 0 is the return
 * address at [sp], in ml_key.caller). */
#define ML_STACK_DEPTH 48

struct ml_frames {
	__u64 ips[ML_STACK_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct ml_frames);
	__uint(max_entries, 16384);
} ml_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ml_frames);
	__uint(max_entries, 1);
} ml_frames_scratch SEC(".maps");

struct ml_frame_record {
	__u64 next;
	__u64 ret;
};

static __always_inline __s32 ml_walk_user_stack(struct pt_regs *ctx)
{
	__u32 zero = 0;
	struct ml_frames *f = bpf_map_lookup_elem(&ml_frames_scratch, &zero);
	if (!f)
		return -1;
	__u64 fp = PT_REGS_FP(ctx);
	__u64 h = 14695981039346656037ULL;
	int n = 0;
	for (int i = 0; i < ML_STACK_DEPTH; i++) {
		struct ml_frame_record fr;
		if (!fp || (fp & 7) || bpf_probe_read_user(&fr, sizeof(fr), (void *)fp) || !fr.ret)
			break;
		f->ips[i] = fr.ret;
		n = i + 1;
		h = (h ^ fr.ret) * 1099511628211ULL;
		if (fr.next <= fp) /* frames lie at higher addresses as the walk goes up */
			break;
		fp = fr.next;
	}
	for (int i = 0; i < ML_STACK_DEPTH; i++)
		if (i >= n)
			f->ips[i] = 0;
	__u32 id = (__u32)(h ^ (h >> 32)) & 0x7fffffff;
	if (!bpf_map_lookup_elem(&ml_stacks, &id) && bpf_map_update_elem(&ml_stacks, &id, f, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&ml_stacks, &id))
		return -1;
	return id;
}

/* --unwind dwarf/auto: each recorded allocation's registers and stack top go to the
 * ms_dwarf_samples ring (stacks.h) with a sequence number, and its key names that sample
 * (ustack MS_USTACK_DWARF, caller = the number): userspace unwinds it with CFI, so stacks go
 * through code without frame pointers. Such keys are unique: they are kept out of `combined`
 * and userspace sums `allocs` instead. Over the rate (auto) or with the ring full, the
 * frame-pointer walk is used, and userspace cuts it where it cannot be trusted. */
__u64 dwarf_seq = 0;

static __always_inline void ml_user_key(struct pt_regs *ctx, __u32 tgid, struct ml_key *key)
{
	key->tgid = tgid;
	key->kstack = -1;
	if (ms_unwind != MS_UNWIND_FP) {
		__u64 seq = __sync_fetch_and_add(&dwarf_seq, 1) + 1;
		if (ms_dwarf_sample(ctx, tgid, false, seq) == 0) {
			key->ustack = MS_USTACK_DWARF;
			key->caller = seq;
			return;
		}
	}
	key->caller = ms_entry_return_address(ctx);
	key->ustack = ml_walk_user_stack(ctx);
	if (key->ustack < 0)
		__sync_fetch_and_add(&stacks_lost, 1);
}

#endif
