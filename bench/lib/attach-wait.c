// SPDX-License-Identifier: Apache-2.0
/* attach-wait PID TIMEOUT_MS NAME...: waits until PID or one of its descendants holds a perf
 * event or link with a BPF program attached to one of NAME (asked of the kernel with
 * BPF_TASK_FD_QUERY, so it is proof of attachment whatever the tool prints). NAME is a tracepoint
 * or raw tracepoint name ("sys_enter_brk"), the file of a uprobe ("/usr/lib/.../libc.so.6"), or
 * "perf_event" for any perf event carrying a BPF_PROG_TYPE_PERF_EVENT program (software events:
 * the kernel answers EOPNOTSUPP for exactly those). Then it
 * prints the CLOCK_MONOTONIC time in ns (the clock of Node's process.hrtime), the pid, and the CPU
 * time that process has used so far in ns (all its threads, from schedstat), and exits 0. Exits 1 on timeout, 2 when PID is gone. Polls every 0.5 ms. */
#include <dirent.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int names_n;
static char **names;

static int wanted(const char *name)
{
	for (int i = 0; i < names_n; i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* does one of pid's fds carry a BPF program on one of the tracepoints? */
static int attached(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *e;
	int found = 0;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char buf[256];
		union bpf_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.task_fd_query.pid = pid;
		attr.task_fd_query.fd = atoi(e->d_name);
		attr.task_fd_query.buf = (unsigned long)buf;
		attr.task_fd_query.buf_len = sizeof(buf);
		if (syscall(__NR_bpf, BPF_TASK_FD_QUERY, &attr, sizeof(attr)) != 0) {
			if (errno == EOPNOTSUPP && wanted("perf_event"))
				found = 1;
			continue;
		}
		switch (attr.task_fd_query.fd_type) {
		case BPF_FD_TYPE_TRACEPOINT:
		case BPF_FD_TYPE_RAW_TRACEPOINT:
		case BPF_FD_TYPE_UPROBE:
		case BPF_FD_TYPE_URETPROBE:
			found = wanted(buf);
			break;
		}
	}
	closedir(d);
	return found;
}

/* CPU time of all threads of pid so far, ns (first field of each task's schedstat) */
static unsigned long long cpu_ns(int pid)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	unsigned long long sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char p[320];
		snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", pid, e->d_name);
		FILE *f = fopen(p, "r");
		unsigned long long ns;
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

/* pid and its descendants, depth first; returns the first one found attached, or 0 */
static int search(int pid, int depth)
{
	if (attached(pid))
		return pid;
	if (depth > 8)
		return 0;
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int child, hit = 0;
	while (!hit && fscanf(f, "%d", &child) == 1)
		hit = search(child, depth + 1);
	fclose(f);
	return hit;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: attach-wait PID TIMEOUT_MS TRACEPOINT...\n");
		return 64;
	}
	int pid = atoi(argv[1]);
	unsigned long long deadline = now_ns() + strtoull(argv[2], NULL, 10) * 1000000ULL;
	names = argv + 3;
	names_n = argc - 3;
	char self[32];
	snprintf(self, sizeof(self), "/proc/%d", pid);
	struct timespec pause = { 0, 500000 };
	while (now_ns() < deadline) {
		int hit = search(pid, 0);
		if (hit) {
			unsigned long long t = now_ns();
			printf("%llu %d %llu\n", t, hit, cpu_ns(hit));
			return 0;
		}
		if (access(self, F_OK) != 0)
			return 2;
		nanosleep(&pause, NULL);
	}
	return 1;
}
