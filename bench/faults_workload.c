// SPDX-License-Identifier: Apache-2.0
/* faults_workload MIB [ROUNDS [wait]]: ROUNDS times, maps MIB MiB of fresh anonymous memory (huge pages
 * off, so every 4 KiB page is one fault), writes one byte to each page, unmaps it; prints
 * "pages=N ns=T cpu_ns=C" per round: T is the wall time of the touching loop alone, C the CPU time
 * this thread spent in it (user + kernel, so the fault handling and any BPF program run on each
 * fault are in it, and time spent waiting for a CPU on a busy machine is not). With "wait", it then
 * prints "done" and exits only at a line or the end of its stdin (a tracer's statistics can be
 * read while its programs are still loaded). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) void touch_pages(volatile char *p, long pages, long pagesize)
{
	for (long i = 0; i < pages; i++)
		p[i * pagesize] = 1;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 2048;
	int rounds = argc > 2 ? atoi(argv[2]) : 1;
	long pagesize = sysconf(_SC_PAGESIZE);
	long pages = mib * 1024 * 1024 / pagesize;
	for (int r = 0; r < rounds; r++) {
		char *p = mmap(NULL, pages * pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		madvise(p, pages * pagesize, MADV_NOHUGEPAGE);
		long long t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
		touch_pages(p, pages, pagesize);
		long long c1 = now_ns(CLOCK_THREAD_CPUTIME_ID), t1 = now_ns(CLOCK_MONOTONIC);
		munmap(p, pages * pagesize);
		printf("pages=%ld ns=%lld cpu_ns=%lld\n", pages, t1 - t0, c1 - c0);
	}
	if (argc > 3 && strcmp(argv[3], "wait") == 0) {
		char line[16];
		printf("done\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 0;
	}
	return 0;
}
