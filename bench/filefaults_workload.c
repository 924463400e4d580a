// SPDX-License-Identifier: Apache-2.0
/* filefaults_workload DIR MIB ROUNDS [SECONDS]: page faults as fast as one CPU takes them, for
 * bench:agent's budget at 200k faults/s (issue 13), which fresh anonymous pages cannot reach on a
 * small VM (faults_workload: ~50k/s here, each fault zeroes a page). A MIB-MiB file in DIR (a tmpfs:
 * its pages stay in the page cache) is mapped shared and read-only; every page is read once, then
 * MADV_DONTNEED drops the mapping's page tables and the next pass faults again. A read fault on a
 * file maps the pages around it already cached (fault-around, 16 by default), so a pass takes about
 * one fault per 16 pages: the faults are counted (getrusage's minor faults of this thread), never
 * derived from the pages read. Each round runs passes for SECONDS (default 1) and prints
 * "faults=N ns=T cpu_ns=C pages=P": T the wall time, C this thread's CPU time (user + kernel: the
 * fault handling and any BPF program run on each fault are in it; waiting for a CPU is not). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

/* one pass: a read of every page (noinline: the faulting function a stack names) */
__attribute__((noinline)) unsigned read_pages(const volatile char *p, long pages, long pagesize)
{
	unsigned sum = 0;
	for (long i = 0; i < pages; i++)
		sum += p[i * pagesize];
	return sum;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: filefaults_workload DIR MIB ROUNDS [SECONDS]\n");
		return 2;
	}
	long mib = atol(argv[2]);
	int rounds = atoi(argv[3]);
	double secs = argc > 4 ? atof(argv[4]) : 1.0;
	long pagesize = sysconf(_SC_PAGESIZE);
	long pages = mib * 1024 * 1024 / pagesize;
	char path[4096];
	snprintf(path, sizeof(path), "%s/memscope-filefaults-XXXXXX", argv[1]);
	int fd = mkstemp(path);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	unlink(path); /* nothing left behind however the run ends */
	if (ftruncate(fd, pages * pagesize)) {
		perror("ftruncate");
		return 1;
	}
	const char *p = mmap(NULL, pages * pagesize, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* a first pass brings every page into the page cache: from then on each fault maps cached pages */
	unsigned sink = read_pages(p, pages, pagesize);
	madvise((void *)p, pages * pagesize, MADV_DONTNEED);
	for (int r = 0; r < rounds; r++) {
		long f0 = minflt(), n = 0;
		long long t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), t1;
		do {
			sink += read_pages(p, pages, pagesize);
			madvise((void *)p, pages * pagesize, MADV_DONTNEED);
			n += pages;
			t1 = now_ns(CLOCK_MONOTONIC);
		} while (t1 - t0 < secs * 1e9);
		long long c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
		printf("faults=%ld ns=%lld cpu_ns=%lld pages=%ld\n", minflt() - f0, t1 - t0, c1 - c0, n);
		fflush(stdout);
	}
	return sink == 0xffffffff; /* keeps the reads */
}
