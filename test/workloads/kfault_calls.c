// SPDX-License-Identifier: Apache-2.0
/* kfault_calls N: many distinct kernel stacks, each a known number of times. Each system call of
 * the list below writes its result into a fresh anonymous page, N times (a fresh page each time),
 * so the kernel takes exactly N page faults in each call's own copy to user memory: as many
 * distinct kernel stacks as calls. Prints "ready CALLS", waits for a line, works, prints "done" and
 * waits for a line. A line "go FIRST END" makes only calls FIRST..END-1 (their pages apart from the
 * others'), and a next line beginning with "go" works again (so one process can make two sets of
 * distinct kernel stacks at two moments); any other line ends it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static int zero_fd;

/* one call writing into p; the fds some calls make are closed at once */
static long call(int which, char *p)
{
	long r;
	struct __user_cap_header_struct cap = { _LINUX_CAPABILITY_VERSION_3, 0 };
	switch (which) {
	case 0: return syscall(SYS_read, zero_fd, p, 64);
	case 1: return syscall(SYS_pread64, zero_fd, p, 64, 0);
	case 2: return syscall(SYS_getrandom, p, 64, 0);
	case 3: return syscall(SYS_uname, p);
	case 4: return syscall(SYS_sysinfo, p);
	case 5: return syscall(SYS_getrlimit, RLIMIT_NOFILE, p);
	case 6: return syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, p);
	case 7: return syscall(SYS_clock_gettime, CLOCK_MONOTONIC, p);
	case 8: return syscall(SYS_clock_getres, CLOCK_MONOTONIC, p);
	case 9: return syscall(SYS_gettimeofday, p, NULL);
	case 10: return syscall(SYS_times, p);
	case 11: return syscall(SYS_getcwd, p, 64);
	case 12: return syscall(SYS_getresuid, p, p + 8, p + 16);
	case 13: return syscall(SYS_getresgid, p, p + 8, p + 16);
	case 14:
		r = syscall(SYS_pipe2, p, 0);
		close(((int *)p)[0]);
		close(((int *)p)[1]);
		return r;
	case 15: return syscall(SYS_fstat, zero_fd, p);
	case 16: return syscall(SYS_sched_getaffinity, 0, 64, p);
	case 17: return syscall(SYS_getitimer, ITIMER_REAL, p);
	case 18: return syscall(SYS_getrusage, RUSAGE_SELF, p);
	case 19: return syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, p, 8);
	case 20: return syscall(SYS_sigaltstack, NULL, p);
	case 21: return syscall(SYS_readlink, "/proc/self/exe", p, 64);
	case 22: return syscall(SYS_sched_getparam, 0, p);
	case 23: return syscall(SYS_capget, &cap, p);
	case 24: return syscall(SYS_stat, "/", p);
	case 25: return syscall(SYS_lstat, "/", p);
	case 26: return syscall(SYS_sched_rr_get_interval, 0, p);
	case 27: return syscall(SYS_time, p);
	case 28:
		r = syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, p);
		close(((int *)p)[0]);
		close(((int *)p)[1]);
		return r;
	case 29: return syscall(SYS_statx, AT_FDCWD, "/", 0, STATX_BASIC_STATS, p);
	}
	return -1;
}

#define CALLS 30 /* the cases of call() */

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 4;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	zero_fd = open("/dev/zero", O_RDONLY);
	char *p = mmap(NULL, CALLS * n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || zero_fd < 0) {
		perror("kfault_calls");
		return 1;
	}
	madvise(p, CALLS * n * PAGE, MADV_NOHUGEPAGE);
	printf("ready %d\n", CALLS);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	while (!strncmp(line, "go", 2)) {
		int first = 0, end = CALLS;
		if (sscanf(line, "go %d %d", &first, &end) != 2 || first < 0 || end > CALLS)
			first = 0, end = CALLS;
		for (int c = first; c < end; c++)
			for (long i = 0; i < n; i++)
				if (call(c, p + (c * n + i) * PAGE) < 0) {
					fprintf(stderr, "kfault_calls: call %d: %s\n", c, strerror(errno));
					return 1;
				}
		printf("done\n");
		if (!fgets(line, sizeof(line), stdin))
			break;
	}
	return 0;
}
