/* count: events per probe (BCC funccount, bpftrace @[probe] = count()) on any tracepoints and
 * software events given at run time. One generic program per probe kind; the attach cookie is the
 * probe's index. With by_process, counts are kept per (probe, process) instead. */
#include "memscope.h"

const volatile bool by_process = false;

struct count_key {
	__u32 probe;
	__u32 tgid;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct count_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} counts SEC(".maps");

static __always_inline int count_event(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!ms_traced(tgid))
		return 0;
	struct count_key key = { .probe = (__u32)bpf_get_attach_cookie(ctx) };
	if (by_process) {
		key.tgid = tgid;
		bpf_get_current_comm(key.comm, sizeof(key.comm));
	}
	ms_map_add(&counts, &key, 1);
	return 0;
}

SEC("tracepoint")
int count_tp(void *ctx)
{
	return count_event(ctx);
}

SEC("perf_event")
int count_sw(struct bpf_perf_event_data *ctx)
{
	return count_event(ctx);
}
