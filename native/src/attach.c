// SPDX-License-Identifier: Apache-2.0
/* Attaching programs: by section (tracepoints, tp_btf, raw_tp), perf events on every CPU,
 * uprobes by symbol name, and USDT. Every link is owned by the object and freed by destroy(). */
#include "internal.h"
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

napi_value ms_num_cpus(napi_env env, napi_callback_info info)
{
	return ms_int(env, libbpf_num_possible_cpus());
}

static napi_value own_link(napi_env env, struct ms_object *o, struct bpf_link *link, const char *what)
{
	if (!link)
		return ms_throw_errno(env, what, errno);
	if (!ms_add_link(env, o, link))
		return NULL;
	return ms_int(env, 1);
}

napi_value ms_attach(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct ms_object *o;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_program *p = ms_find_program(env, o, argv[1]);
	if (!p)
		return NULL;
	ms_log_clear();
	return own_link(env, o, bpf_program__attach(p), "cannot attach");
}

/* attachTracepoint(obj, prog, category, name, cookie): one program on any classic tracepoint;
 * the cookie (bpf_get_attach_cookie) tells the program which one fired. */
napi_value ms_attach_tracepoint(napi_env env, napi_callback_info info)
{
	ARGS(5);
	struct ms_object *o;
	char cat[256], name[256];
	int64_t cookie;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_program *p = ms_find_program(env, o, argv[1]);
	if (!p || !ms_get_string(env, argv[2], cat, sizeof(cat)) || !ms_get_string(env, argv[3], name, sizeof(name)) ||
	    !ms_get_int64(env, argv[4], &cookie))
		return NULL;
	LIBBPF_OPTS(bpf_tracepoint_opts, opts, .bpf_cookie = (uint64_t)cookie);
	ms_log_clear();
	return own_link(env, o, bpf_program__attach_tracepoint_opts(p, cat, name, &opts), "cannot attach tracepoint");
}

/* attachRawTracepoint(obj, prog, name) */
napi_value ms_attach_raw_tracepoint(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct ms_object *o;
	char name[256];
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_program *p = ms_find_program(env, o, argv[1]);
	if (!p || !ms_get_string(env, argv[2], name, sizeof(name)))
		return NULL;
	ms_log_clear();
	return own_link(env, o, bpf_program__attach_raw_tracepoint(p, name), "cannot attach raw tracepoint");
}

/* attachPerfEvent(obj, prog, type, config, samplePeriod, pid[, cookie]): one perf event per online CPU
 * (pid -1), or one that follows the given pid on any CPU. */
napi_value ms_attach_perf_event(napi_env env, napi_callback_info info)
{
	ARGS_RANGE(6, 7);
	struct ms_object *o;
	int64_t type, config, period, pid, cookie = 0;
	if (argc > 6 && !ms_get_int64(env, argv[6], &cookie))
		return NULL;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_program *p = ms_find_program(env, o, argv[1]);
	if (!p || !ms_get_int64(env, argv[2], &type) || !ms_get_int64(env, argv[3], &config) ||
	    !ms_get_int64(env, argv[4], &period) || !ms_get_int64(env, argv[5], &pid))
		return NULL;
	struct perf_event_attr attr = {
		.type = (uint32_t)type,
		.size = sizeof(attr),
		.config = (uint64_t)config,
		.sample_period = (uint64_t)period,
	};
	int ncpus = pid >= 0 ? 1 : libbpf_num_possible_cpus();
	int attached = 0;
	for (int cpu = 0; cpu < ncpus; cpu++) {
		int fd = syscall(__NR_perf_event_open, &attr, (pid_t)pid, pid >= 0 ? -1 : cpu, -1,
				 PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			if (errno == ENODEV) /* possible but offline CPU */
				continue;
			return ms_throw_errno(env, "perf_event_open", errno);
		}
		LIBBPF_OPTS(bpf_perf_event_opts, popts, .bpf_cookie = (uint64_t)cookie);
		struct bpf_link *link = bpf_program__attach_perf_event_opts(p, fd, &popts);
		if (!link) {
			int e = errno;
			close(fd);
			return ms_throw_errno(env, "cannot attach to perf event", e);
		}
		if (!ms_add_link(env, o, link) || !ms_add_perf_fd(env, o, p, fd))
			return NULL;
		attached++;
	}
	return ms_int(env, attached);
}

/* setPerfPeriod(obj, prog, samplePeriod): the sample period of every perf event prog is attached
 * to (PERF_EVENT_IOC_PERIOD: the kernel restarts each event's count at the new period); returns
 * how many were changed. The program reads the period it was run at in its context. */
napi_value ms_set_perf_period(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct ms_object *o;
	int64_t period;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_program *p = ms_find_program(env, o, argv[1]);
	if (!p || !ms_get_int64(env, argv[2], &period))
		return NULL;
	if (period <= 0)
		return ms_throw(env, "setPerfPeriod: the period must be positive", false);
	uint64_t v = (uint64_t)period;
	int changed = 0;
	for (size_t i = 0; i < o->nperf_fds; i++) {
		if (o->perf_fds[i].prog != p)
			continue;
		if (ioctl(o->perf_fds[i].fd, PERF_EVENT_IOC_PERIOD, &v) < 0)
			return ms_throw_errno(env, "PERF_EVENT_IOC_PERIOD", errno);
		changed++;
	}
	return ms_int(env, changed);
}

/* attachUprobe(obj, prog, retprobe, pid, path, funcName, offset[, cookie]) */
napi_value ms_attach_uprobe(napi_env env, napi_callback_info info)
{
	ARGS_RANGE(7, 8);
	struct ms_object *o;
	bool ret;
	int64_t pid, offset, cookie = 0;
	if (argc > 7 && !ms_get_int64(env, argv[7], &cookie))
		return NULL;
	char path[4096], func[512];
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_program *p = ms_find_program(env, o, argv[1]);
	if (!p || !ms_get_bool(env, argv[2], &ret) || !ms_get_int64(env, argv[3], &pid) ||
	    !ms_get_string(env, argv[4], path, sizeof(path)) || !ms_get_string(env, argv[5], func, sizeof(func)) ||
	    !ms_get_int64(env, argv[6], &offset))
		return NULL;
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret, .func_name = func[0] ? func : NULL,
		    .bpf_cookie = (uint64_t)cookie);
	ms_log_clear();
	struct bpf_link *link = bpf_program__attach_uprobe_opts(p, (pid_t)pid, path, (size_t)offset, &opts);
	return own_link(env, o, link, "cannot attach uprobe");
}

/* attachUsdt(obj, prog, pid, path, provider, name[, cookie]): the cookie is read in BPF with
 * bpf_usdt_cookie (libbpf keeps the attach cookie itself for the probe's argument specs). */
napi_value ms_attach_usdt(napi_env env, napi_callback_info info)
{
	ARGS_RANGE(6, 7);
	struct ms_object *o;
	int64_t pid, cookie = 0;
	char path[4096], provider[256], name[256];
	if (argc > 6 && !ms_get_int64(env, argv[6], &cookie))
		return NULL;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_program *p = ms_find_program(env, o, argv[1]);
	if (!p || !ms_get_int64(env, argv[2], &pid) || !ms_get_string(env, argv[3], path, sizeof(path)) ||
	    !ms_get_string(env, argv[4], provider, sizeof(provider)) || !ms_get_string(env, argv[5], name, sizeof(name)))
		return NULL;
	ms_log_clear();
	LIBBPF_OPTS(bpf_usdt_opts, uopts, .usdt_cookie = (uint64_t)cookie);
	struct bpf_link *link = bpf_program__attach_usdt(p, (pid_t)pid, path, provider, name, &uopts);
	return own_link(env, o, link, "cannot attach USDT probe");
}
