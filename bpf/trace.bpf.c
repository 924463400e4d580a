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

/* An in-kernel filter per probe: up to FILTER_TERMS numeric comparisons of record fields, all of
 * which must hold (userspace compiles an AND of comparisons into them; other filters run there). */
#define FILTER_TERMS 4
enum { TF_EQ = 1, TF_NE, TF_LT, TF_LE, TF_GT, TF_GE };

struct filter_term {
	__u32 offset;
	__u8 size;
	__u8 is_signed;
	__u8 op; /* 0: no more terms */
	__u8 pad;
	__u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32); /* probe * FILTER_TERMS + term */
	__type(value, struct filter_term);
	__uint(max_entries, TRACE_MAX_PROBES * FILTER_TERMS);
} filters SEC(".maps");

__u64 filtered_in_kernel = 0;

static __always_inline bool term_holds(struct filter_term *t, const __u8 *data, __u32 size)
{
	__u32 off = t->offset;
	if (off > TRACE_MAX_DATA - 8 || off + t->size > size)
		return false;
	__u64 raw = 0;
	bpf_probe_read_kernel(&raw, 8, data + off);
	__u32 bits = t->size * 8;
	if (bits < 64)
		raw &= (1ULL << bits) - 1;
	if (t->is_signed) {
		__s64 v = raw;
		if (bits < 64 && (raw >> (bits - 1)) & 1)
			v = (__s64)(raw | ~((1ULL << bits) - 1));
		__s64 w = (__s64)t->value;
		switch (t->op) {
		case TF_EQ: return v == w;
		case TF_NE: return v != w;
		case TF_LT: return v < w;
		case TF_LE: return v <= w;
		case TF_GT: return v > w;
		case TF_GE: return v >= w;
		}
		return true;
	}
	switch (t->op) {
	case TF_EQ: return raw == t->value;
	case TF_NE: return raw != t->value;
	case TF_LT: return raw < t->value;
	case TF_LE: return raw <= t->value;
	case TF_GT: return raw > t->value;
	case TF_GE: return raw >= t->value;
	}
	return true;
}

static __always_inline bool passes(__u32 probe, const __u8 *data, __u32 size)
{
	for (__u32 i = 0; i < FILTER_TERMS; i++) {
		__u32 k = probe * FILTER_TERMS + i;
		struct filter_term *t = bpf_map_lookup_elem(&filters, &k);
		if (!t || !t->op)
			return true;
		if (!term_holds(t, data, size))
			return false;
	}
	return true;
}

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
		if (!passes(probe, e->data, size)) {
			__sync_fetch_and_add(&filtered_in_kernel, 1);
			return 0;
		}
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
