// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* llcstat: last-level-cache references and misses by process, thread and CPU (BCC llcstat).
 * Two hardware perf events per CPU, each sampled every sample_period events; each sample adds the
 * period to the interrupted task's entry, so counts are estimates in units of the period. */
#include "memscope.h"

const volatile __u64 sample_period = 100;

struct llc_key {
	__u32 tgid;
	__u32 tid;
	__u32 cpu;
	char comm[TASK_COMM_LEN];
};

struct llc_val {
	__u64 ref;
	__u64 miss;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct llc_key);
	__type(value, struct llc_val);
	__uint(max_entries, 10240);
} llc SEC(".maps");

static __always_inline int account(bool miss)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!ms_traced(tgid))
		return 0;
	struct llc_key key = { .tgid = tgid, .tid = (__u32)id, .cpu = bpf_get_smp_processor_id() };
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	struct llc_val zero = {}, *v = bpf_map_lookup_elem(&llc, &key);
	if (!v) {
		bpf_map_update_elem(&llc, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&llc, &key);
		if (!v)
			return 0;
	}
	if (miss)
		__sync_fetch_and_add(&v->miss, sample_period);
	else
		__sync_fetch_and_add(&v->ref, sample_period);
	return 0;
}

SEC("perf_event")
int llc_ref(struct bpf_perf_event_data *ctx)
{
	return account(false);
}

SEC("perf_event")
int llc_miss(struct bpf_perf_event_data *ctx)
{
	return account(true);
}
