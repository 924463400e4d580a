/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Pairing a syscall's entry with its exit: the entry stashes a record by thread id, the exit
 * completes it (return value, time, comm) into a ring buffer. Records are any struct with
 * `ret`, `ts` and `comm` fields. */
#ifndef MEMSCOPE_SYSCALL_PAIR_H
#define MEMSCOPE_SYSCALL_PAIR_H

#include "memscope.h"

/* A hash map of in-flight calls keyed by thread id. */
#define MS_PENDING_MAP(name, record_type) \
	struct {                                            \
		__uint(type, BPF_MAP_TYPE_HASH);            \
		__type(key, __u32);                         \
		__type(value, record_type);                 \
		__uint(max_entries, 4096);                  \
	} name SEC(".maps")

static __always_inline void ms_stash_call(void *pending, const void *record)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(pending, &tid, record, BPF_ANY);
}

/* Emits the current thread's stashed record of `type` with its return value, if there is one. */
#define MS_COMPLETE_CALL(pending, ringbuf, type, retval)                              \
	({                                                                             \
		__u32 __tid = (__u32)bpf_get_current_pid_tgid();                       \
		type *__p = bpf_map_lookup_elem(&(pending), &__tid);                   \
		if (__p) {                                                             \
			type *__e = bpf_ringbuf_reserve(&(ringbuf), sizeof(type), 0);  \
			if (__e) {                                                     \
				__builtin_memcpy(__e, __p, sizeof(type));              \
				__e->ret = (retval);                                   \
				__e->ts = bpf_ktime_get_ns();                          \
				bpf_get_current_comm(__e->comm, sizeof(__e->comm));    \
				bpf_ringbuf_submit(__e, 0);                            \
			} else {                                                       \
				ms_count_lost();                                       \
			}                                                              \
			bpf_map_delete_elem(&(pending), &__tid);                       \
		}                                                                      \
		0;                                                                     \
	})

#endif
