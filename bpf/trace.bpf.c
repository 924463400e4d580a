// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* trace: one record per event of run-time probes, carrying the tracepoint's raw record (the bytes
 * its tracefs format file describes), decoded by field name in userspace. Software events carry
 * the sample's address. */
#include "stacks.h"
#include <bpf/usdt.bpf.h>

#define TRACE_MAX_DATA 2048
#define TRACE_MAX_PROBES 512

/* -U / -K: the user and kernel stack of each event, as ids into stacks.h's maps */
const volatile bool user_stacks = false;
const volatile bool kernel_stacks = false;
/* -c PATH (BCC trace's cgroup): events of tasks in this cgroup v2 (its id is the directory's inode) */
const volatile __u64 targ_cgroup = 0;

/* uprobes and USDT probes: arguments 1-6 and the return value, then the arguments that the format
 * prints with %s, copied as user strings of TRACE_STR bytes each (bit i of str_args[probe]: arg i+1) */
#define TRACE_ARGS 6
#define TRACE_STR 80
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, TRACE_MAX_PROBES);
} str_args SEC(".maps");

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
	__s32 ustack;
	__s32 kstack;
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

static __always_inline struct trace_rec *begin(void *ctx, __u32 probe, __u64 addr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (!ms_traced(tgid))
		return NULL;
	if (targ_cgroup && bpf_get_current_cgroup_id() != targ_cgroup)
		return NULL;
	__u32 zero = 0;
	struct trace_rec *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return NULL;
	e->ts = bpf_ktime_get_ns();
	e->tgid = tgid;
	e->tid = (__u32)pid_tgid;
	e->probe = probe;
	e->addr = addr;
	e->size = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->ustack = -1;
	e->kstack = -1;
	if (user_stacks) {
		ms_note_process(tgid);
		e->ustack = ms_user_stack(ctx);
	}
	if (kernel_stacks)
		e->kstack = ms_kernel_stack(ctx);
	return e;
}

static __always_inline void submit(struct trace_rec *e)
{
	__u64 len = offsetof(struct trace_rec, data) + (__u64)e->size;
	if (len > sizeof(*e))
		return;
	if (bpf_ringbuf_output(&events, e, len, 0))
		ms_count_lost();
}

static __always_inline int emit(void *ctx, bool raw, __u64 addr)
{
	struct trace_rec *e = begin(ctx, (__u32)bpf_get_attach_cookie(ctx), addr);
	if (!e)
		return 0;
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
	submit(e);
	return 0;
}

/* data: args[6], retval, then TRACE_STR bytes per argument (strings where str_args asks) */
static __always_inline int emit_regs(struct pt_regs *ctx, __u32 probe, bool usdt)
{
	struct trace_rec *e = begin(ctx, probe, PT_REGS_IP(ctx));
	if (!e)
		return 0;
	__u64 *v = (__u64 *)e->data;
	if (usdt) {
		for (int i = 0; i < TRACE_ARGS; i++) {
			long a = 0;
			if (bpf_usdt_arg(ctx, i, &a))
				a = 0;
			v[i] = a;
		}
	} else {
		v[0] = PT_REGS_PARM1(ctx);
		v[1] = PT_REGS_PARM2(ctx);
		v[2] = PT_REGS_PARM3(ctx);
		v[3] = PT_REGS_PARM4(ctx);
		v[4] = PT_REGS_PARM5(ctx);
#if defined(PT_REGS_PARM6)
		v[5] = PT_REGS_PARM6(ctx);
#elif defined(__TARGET_ARCH_x86)
		v[5] = ctx->r9; /* this libbpf predates PT_REGS_PARM6 */
#else
		v[5] = 0;
#endif
	}
	v[TRACE_ARGS] = PT_REGS_RC(ctx);
	__u32 *mask = bpf_map_lookup_elem(&str_args, &probe);
	__u32 m = mask ? *mask : 0;
	for (int i = 0; i < TRACE_ARGS; i++) {
		char *dst = (char *)e->data + 8 * (TRACE_ARGS + 1) + i * TRACE_STR;
		dst[0] = 0;
		if (m & (1u << i))
			bpf_probe_read_user_str(dst, TRACE_STR, (void *)v[i]);
	}
	e->size = 8 * (TRACE_ARGS + 1) + TRACE_ARGS * TRACE_STR;
	submit(e);
	return 0;
}

SEC("uprobe")
int trace_uprobe(struct pt_regs *ctx)
{
	return emit_regs(ctx, (__u32)bpf_get_attach_cookie(ctx), false);
}

SEC("usdt")
int trace_usdt(struct pt_regs *ctx)
{
	return emit_regs(ctx, (__u32)bpf_usdt_cookie(ctx), true);
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
