/* trace: one record per event of run-time probes, carrying the tracepoint's raw record (the bytes
 * its tracefs format file describes), decoded by field name in userspace. Software events carry
 * the sample's address. */
#include "memscope.h"

#define TRACE_MAX_DATA 2048
#define TRACE_MAX_PROBES 512

/* bytes to copy per probe (cookie): the fixed part plus room for __data_loc data */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, TRACE_MAX_PROBES);
} copy_size SEC(".maps");

struct trace_rec {
	__u64 ts;
	__u32 tgid;
	__u32 tid;
	__u32 probe;
	__u32 size;
	__u64 addr;
	char comm[TASK_COMM_LEN];
	__u8 data[TRACE_MAX_DATA];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct trace_rec);
	__uint(max_entries, 1);
} scratch SEC(".maps");

static __always_inline int emit(void *ctx, bool raw, __u64 addr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (!ms_traced(tgid))
		return 0;
	__u32 zero = 0;
	struct trace_rec *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	e->ts = bpf_ktime_get_ns();
	e->tgid = tgid;
	e->tid = (__u32)pid_tgid;
	e->probe = (__u32)bpf_get_attach_cookie(ctx);
	e->addr = addr;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__u32 size = 0;
	if (raw) {
		__u32 probe = e->probe;
		__u32 *want = bpf_map_lookup_elem(&copy_size, &probe);
		size = want ? *want : 0;
		if (size > TRACE_MAX_DATA)
			size = TRACE_MAX_DATA;
		if (size && bpf_probe_read_kernel(e->data, size, ctx))
			size = 0;
	}
	e->size = size;
	__u64 len = offsetof(struct trace_rec, data) + (__u64)size;
	if (len > sizeof(*e))
		return 0;
	if (bpf_ringbuf_output(&events, e, len, 0))
		ms_count_lost();
	return 0;
}

SEC("tracepoint")
int trace_tp(void *ctx)
{
	return emit(ctx, true, 0);
}

SEC("perf_event")
int trace_sw(struct bpf_perf_event_data *ctx)
{
	return emit(ctx, false, BPF_CORE_READ(ctx, addr));
}
