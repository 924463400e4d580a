// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* faults: page faults counted by user (and with --kernel, kernel) stack and process — the
 * chapter's faults/stackcount on page_fault_user: the code paths that first touched memory,
 * which is what grows RSS. */
#include "stacks.h"

/* -K: also faults the kernel takes on user memory (copy_to_user and friends), with kernel stacks */
const volatile bool kernel_mode = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_stack_key);
	__type(value, __u64);
	__uint(max_entries, 65536);
} fault_counts SEC(".maps");

/* The agent's fault traces (the dashboard's "trace faults" of one process): while a pid is in
 * fault_trace_pids its faults are counted in maps of its own, so a storm of new (process, stack)
 * pairs elsewhere on the host, which fills fault_counts and ms_walked_ustacks until the next
 * collection, cannot drop them (a fork storm beside the agent lost 577,881 faults in a minute and
 * the traced workload's count came out short). Sized by the agent (fault_trace_on); the faults
 * tool leaves them at one entry and the verifier removes the path. */
const volatile bool fault_trace_on = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* windows open on it */
	__uint(max_entries, 1);
} fault_trace_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ms_stack_key);
	__type(value, __u64);
	__uint(max_entries, 1);
} fault_trace_counts SEC(".maps");

/* laid out as ms_walked_ustacks (same value size) */
MS_STACK_STORE(fault_trace_ustacks);

/* [0]: the pids in fault_trace_pids, raised by the agent before it adds one and lowered after it
 * deletes one: while it is 0 (no trace open, nearly always) a fault costs an array read the verifier
 * inlines, not a hash lookup */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} fault_trace_open SEC(".maps");

/* faults of traced pids not counted: fault_trace_counts was full */
__u64 fault_trace_lost = 0;

static __always_inline void count_traced_fault(void *ctx, __u32 tgid, bool kernel)
{
	struct ms_stack_key key = { .tgid = tgid, .ustack = -1, .kstack = -1 };
	__sync_fetch_and_add(&ms_events_seen, 1);
	ms_note_process_once(tgid);
	key.ustack = ms_walk_user_stack_in(&fault_trace_ustacks, false);
	if (kernel)
		key.kstack = ms_kernel_stack(ctx);
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	__u64 one = 1;
	__u64 *v = bpf_map_lookup_elem(&fault_trace_counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else if (bpf_map_update_elem(&fault_trace_counts, &key, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&fault_trace_counts, &key);
		if (v)
			__sync_fetch_and_add(v, 1);
		else
			__sync_fetch_and_add(&fault_trace_lost, 1);
	}
}

/* The agent's bound on stack walks (issue 13: at most 5% added to a workload taking 200k faults/s,
 * where the walk and its stores were most of the ~500 ns the agent's programs took per fault).
 * Each process has its first fault_walk_rate faults of each second walked (weight 1: counts
 * exact). Above that, one fault in fault_walk_every is walked and counted with the weight of the
 * faults it stands for (its own and those of its process carried since its last walk), so pprof
 * values stay unbiased estimates. The count is kept per CPU for the process faulting there, and per
 * process in fault_walk_state while others fault on the CPU, so a storm of other processes neither
 * uses a process's walks nor gives it new ones; a process's carried faults wait there for its next
 * walk on any CPU. A process's total is exact but for the faults still carried (at most
 * fault_walk_every - 1 per CPU), and for those of a process whose state the LRU map evicted (the
 * least recently faulting of fault_walk_state's entries). 0 (the faults tool): every fault walked.
 * The per-cgroup counts never sample. */
const volatile __u32 fault_walk_rate = 0;
const volatile __u32 fault_walk_every = 16;

struct fault_walk {
	__u64 window;  /* start of the second counted (bpf_ktime_get_ns: the coarse clock is refused to perf_event programs) */
	__u64 walked;  /* faults walked in it, each on its own */
	__u64 carried; /* faults not walked since the last walk */
};

struct fault_walk_cpu {
	struct fault_walk w; /* of tgid */
	__u32 tgid;          /* the process that faulted last on this CPU */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct fault_walk_cpu);
	__uint(max_entries, 1);
} fault_walk_cpu SEC(".maps");

/* the counts of processes while others fault on the CPU they faulted on, by tgid */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct fault_walk);
	__uint(max_entries, 1);
} fault_walk_state SEC(".maps");

/* The agent (issue 13: one program run per fault, not three): the page-faults perf event is
 * sampled, its period set by the agent at run time (1 while a fault trace is open or the host takes
 * few faults, else one in N), and each run walks its fault with the weight of the period it ran at
 * (the context's sample_period) instead of fault_walk_rate's per-process count. The per-cgroup
 * fault counts then come from the memcg PGFAULT event (swapin.bpf.c count_pgfault), not from here. */
const volatile bool fault_period_weights = false;
/* [0]: the period the agent set last. A run's weight is the smaller of it and the context's
 * sample_period: after a change from N to 1 the software event reports N for every fault (its
 * last_period is updated only by samples at a period above 1, perf_swevent_set_period), which
 * weighed each fault of an OOM test 9 times over; after a change from 1 to N the context gives 1
 * for the first sample while this says N already. The agent writes it before the change. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} fault_period_set SEC(".maps");

static __always_inline __u64 fault_run_weight(__u64 sample_period)
{
	__u32 zero = 0;
	__u64 *set = bpf_map_lookup_elem(&fault_period_set, &zero);
	__u64 w = set && *set && *set < sample_period ? *set : sample_period;
	return w ? w : 1;
}

/* the per-cgroup fault counts (MS_CG_FAULTS) made here; off in the agent (see above) */
const volatile bool fault_cg_counts = true;

/* per CPU, summed by the agent: [0] faults not walked (memscope_fault_stacks_sampled_total),
 * [1] walks that counted more than their own fault, [2] faults counted (walked or weighed): the
 * agent's measure of the host's fault rate for the period it sets */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 3);
} fault_walk_stats SEC(".maps");

static __always_inline void fault_walk_stat_add(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&fault_walk_stats, &slot);
	if (v)
		*v += n; /* per CPU; the program does not nest on its CPU */
}

static __always_inline void fault_walk_stat(__u32 slot)
{
	fault_walk_stat_add(slot, 1);
}

/* The weight to walk this fault with, or 0: not walked (carried). The clock is read when a
 * process comes to this CPU and when a weighted walk is due, not at every fault: a process past its
 * rate sees its new second at its next walk (its faults meanwhile are carried, so counted by it),
 * and one under its rate needs no window (bpf_ktime_get_ns is a clock read per call). */
static __always_inline __u64 fault_walk_weight(__u32 tgid)
{
	__u32 zero = 0;
	struct fault_walk_cpu *c = bpf_map_lookup_elem(&fault_walk_cpu, &zero);
	if (!c)
		return 1;
	if (c->tgid != tgid) {
		/* the process before keeps its counts (a process of a few faults needs none kept: its
		 * faults are all walked again) */
		__u32 was = c->tgid;
		if (was && (c->w.carried || c->w.walked >= fault_walk_every)) {
			struct fault_walk *have = bpf_map_lookup_elem(&fault_walk_state, &was);
			if (have) {
				have->window = c->w.window;
				have->walked = c->w.walked;
				__sync_fetch_and_add(&have->carried, c->w.carried); /* another CPU's may be there */
			} else {
				bpf_map_update_elem(&fault_walk_state, &was, &c->w, BPF_ANY);
			}
		}
		c->tgid = tgid;
		struct fault_walk *mine = bpf_map_lookup_elem(&fault_walk_state, &tgid);
		if (mine) {
			c->w.window = mine->window;
			c->w.walked = mine->walked;
			c->w.carried = __sync_lock_test_and_set(&mine->carried, 0);
		} else {
			c->w.window = bpf_ktime_get_ns();
			c->w.walked = 0;
			c->w.carried = 0;
		}
	}
	if (c->w.walked < fault_walk_rate) {
		c->w.walked++;
	} else if (c->w.carried + 1 < fault_walk_every) {
		c->w.carried++;
		fault_walk_stat(0);
		return 0;
	} else {
		/* a weighted walk; from a new second on, the process's faults are walked one by one again */
		__u64 now = bpf_ktime_get_ns();
		if (now - c->w.window >= 1000000000ULL) {
			c->w.window = now;
			c->w.walked = 1;
		}
	}
	__u64 w = c->w.carried + 1;
	if (w > 1)
		fault_walk_stat(1);
	c->w.carried = 0;
	return w;
}

/* Whether the process that faults is traced, and its memory cgroup, as found for the task that
 * faulted last on this CPU: while the same task faults with the same css_set (whose cgroups never
 * change), both are what they were then, and its CONTAINER note (ms_note_cgroup_id) is made. The
 * traced test (ms_traced_process) depends on nothing else: the tgid (compared), the cgroup target
 * (the css_set's), and whether the task is memscope's child (a task becomes memscope's child only
 * if memscope reaps orphans, which it does not). Saves the parent's and five cgroup pointer reads
 * and a hash lookup per fault of a process taking many in a row; the tgid is compared too, so a
 * task and css_set both freed and reused at the same addresses are not taken for the old ones
 * unless the pid is reused as well. */
struct fault_cg_cpu {
	__u64 task;
	__u64 cset;
	__u64 cgid;
	__u32 tgid;
	__u32 traced;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct fault_cg_cpu);
	__uint(max_entries, 1);
} fault_cg_cpu SEC(".maps");

/* ms_traced_process(tgid) for the current task, and in *cgid its memory cgroup's id when the
 * object keeps counts or notes by cgroup (else 0) */
static __always_inline bool fault_traced(__u32 tgid, __u64 *cgid)
{
	*cgid = 0;
	if (!ms_want_cgroups && !ms_by_cgroup)
		return ms_traced_process(tgid);
	__u32 zero = 0;
	struct fault_cg_cpu *c = bpf_map_lookup_elem(&fault_cg_cpu, &zero);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u64 cset = (__u64)BPF_CORE_READ(t, cgroups);
	if (c && c->task == (__u64)t && c->cset == cset && c->tgid == tgid) {
		*cgid = c->cgid;
		/* the note again, as a miss makes it: ms_pid_cgroup is an LRU map, and a process noted
		 * once and evicted by others' notes would keep no container while it faults on one CPU.
		 * A lookup per run: only where runs are sampled (the agent), not per fault */
		if (fault_period_weights && c->traced)
			ms_note_cgroup_id(tgid, c->cgid);
		return c->traced;
	}
	bool traced = ms_traced_process(tgid);
	if (traced) {
		*cgid = ms_current_memcg_id();
		ms_note_cgroup_id(tgid, *cgid);
	}
	if (c) {
		c->task = (__u64)t;
		c->cset = cset;
		c->cgid = *cgid;
		c->tgid = tgid;
		c->traced = traced;
	}
	return traced;
}

static __always_inline int count_fault(void *ctx, bool kernel, __u64 period)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 cgid;
	if (!tgid || !fault_traced(tgid, &cgid))
		return 0;
	__u32 zero = 0;
	__u32 *open = fault_trace_on ? bpf_map_lookup_elem(&fault_trace_open, &zero) : NULL;
	if (open && *open && bpf_map_lookup_elem(&fault_trace_pids, &tgid)) {
		count_traced_fault(ctx, tgid, kernel);
		fault_walk_stat_add(2, 1);
	} else if (fault_period_weights) {
		/* this run stands for the faults of its period on this CPU */
		if (period > 1) {
			fault_walk_stat_add(0, period - 1);
			fault_walk_stat(1);
		}
		fault_walk_stat_add(2, period);
		ms_count_stack_unwind(&fault_counts, ctx, tgid, kernel, period);
	} else {
		__u64 w = fault_walk_rate ? fault_walk_weight(tgid) : 1;
		if (w)
			ms_count_stack_unwind(&fault_counts, ctx, tgid, kernel, w);
	}
	if (fault_cg_counts)
		ms_cgroup_add_id(MS_CG_FAULTS, cgid, 1);
	return 0;
}

/* The perf software event "page-faults" (the default): the same count as `perf stat -e
 * page-faults` (user-mode faults, plus with -K the kernel's faults on user memory), and never the
 * faults a BPF read of an absent page takes (those are fixed up before the event; the tracepoints
 * fire for them). */
SEC("perf_event")
int fault_perf(struct bpf_perf_event_data *ctx)
{
	/* taken in user mode: the faulting instruction is at a user address (the context refuses the
	 * 2-byte load of pt_regs' cs on kernels with FRED; ip is a plain 8-byte field) */
	bool user = (__s64)ctx->regs.ip >= 0;
	if (!user && !kernel_mode)
		return 0;
	return count_fault(ctx, !user, fault_period_weights ? fault_run_weight(ctx->sample_period) : 1);
}

/* user-mode faults */
SEC("tp_btf/page_fault_user")
int BPF_PROG(fault_user_btf, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return count_fault(ctx, false, 1);
}

SEC("tracepoint/exceptions/page_fault_user")
int fault_user_tp(void *ctx)
{
	return count_fault(ctx, false, 1);
}

/* faults the kernel takes on user memory (copy_to_user and friends): kernel and user stacks */
SEC("tp_btf/page_fault_kernel")
int BPF_PROG(fault_kernel_btf, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return count_fault(ctx, true, 1);
}

SEC("tracepoint/exceptions/page_fault_kernel")
int fault_kernel_tp(void *ctx)
{
	return count_fault(ctx, true, 1);
}
