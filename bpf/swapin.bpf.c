/* swapin: pages swapped in, counted by process (the book's swapin.bt). The book traced
 * swap_readpage() with a kprobe; here the PSWPIN event counted into the memory cgroup of the page
 * (memcg:count_memcg_events, item PSWPIN): it is counted per page read from swap, in the context of
 * the task that faulted, and sums exactly to /proc/vmstat pswpin. */
#include "memscope.h"

struct swapin_key {
	__u32 pid; /* tgid */
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct swapin_key);
	__type(value, __u64);
	__uint(max_entries, 10240);
} swapins SEC(".maps");

static __always_inline void count(int item, __u64 pages)
{
	if (item != bpf_core_enum_value(enum vm_event_item, PSWPIN))
		return;
	struct swapin_key key = { .pid = bpf_get_current_pid_tgid() >> 32 };
	if (!ms_traced(key.pid))
		return;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	ms_map_add(&swapins, &key, pages);
}

SEC("tp_btf/count_memcg_events")
int BPF_PROG(swapin_memcg_btf, struct mem_cgroup *memcg, int item, unsigned long val)
{
	count(item, val);
	return 0;
}

SEC("tracepoint/memcg/count_memcg_events")
int swapin_memcg_tp(struct trace_event_raw_memcg_rstat_events *ctx)
{
	count(BPF_CORE_READ(ctx, item), BPF_CORE_READ(ctx, val));
	return 0;
}
