// SPDX-License-Identifier: Apache-2.0
/* Counting perf events without BPF: perf_event_open in counting mode. JavaScript reads the
 * returned fd with read(2) (value, time enabled, time running) and closes it itself. */
#include "internal.h"
#include <errno.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

/* perfCounterOpen(type, config, pid, cpu): an enabled counter; pid -1 with a cpu counts the whole CPU. */
napi_value ms_perf_counter_open(napi_env env, napi_callback_info info)
{
	ARGS(4);
	int64_t type, config, pid, cpu;
	if (!ms_get_int64(env, argv[0], &type) || !ms_get_int64(env, argv[1], &config) ||
	    !ms_get_int64(env, argv[2], &pid) || !ms_get_int64(env, argv[3], &cpu))
		return NULL;
	struct perf_event_attr attr = {
		.type = (uint32_t)type,
		.size = sizeof(attr),
		.config = (uint64_t)config,
		.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING,
	};
	int fd = syscall(__NR_perf_event_open, &attr, (pid_t)pid, (int)cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return ms_throw_errno(env, "perf_event_open", errno);
	return ms_int(env, fd);
}
