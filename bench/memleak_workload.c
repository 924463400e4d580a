// SPDX-License-Identifier: Apache-2.0
/* The memleak bench workload: N malloc/free pairs of mixed sizes, about 1% retained.
 * After a line "go" on stdin it runs the loop and prints
 *   loop_ms <ms> cpu_ms <ms> retained_bytes <B> retained_count <C>
 * (the loop timed inside the process, so a tracer's start-up is not counted; cpu_ms is the
 * thread's CPU time, user and system, which includes the kernel's uprobe handling but not time
 * spent waiting for a CPU on a busy machine), then exits on the
 * next line or end of input. Every 100th iteration keeps its block, allocated in keep_block():
 * that is the known leak. Sizes come from one table for both (16 B .. 4 KiB, small ones more
 * often), so the retained bytes are about 1% of the bytes allocated. Each block is filled once
 * (memset), as a program initializes what it allocates. Built -O2 with frame pointers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const size_t sizes[16] = { 16, 16, 24, 32, 32, 48, 64, 64, 96, 128, 256, 512, 1024, 1536, 2048, 4096 };

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static inline uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void **kept;
static size_t nkept, kept_bytes;

__attribute__((noinline)) void keep_block(size_t size)
{
	char *p = malloc(size);
	memset(p, (int)size, size);
	kept[nkept++] = p;
	kept_bytes += size;
}

__attribute__((noinline)) void churn_block(size_t size)
{
	char *p = malloc(size);
	memset(p, (int)size, size);
	__asm__ volatile("" : : "r"(p) : "memory");
	free(p);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 5000000;
	char line[16];
	kept = malloc(sizeof(void *) * (n / 100 + 1));
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	struct timespec a, b, ca, cb;
	clock_gettime(CLOCK_MONOTONIC, &a);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
	for (long i = 0; i < n; i++) {
		size_t size = sizes[next() & 15];
		if (i % 100 == 0)
			keep_block(size);
		else
			churn_block(size);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
	double cpu = (cb.tv_sec - ca.tv_sec) * 1e3 + (cb.tv_nsec - ca.tv_nsec) / 1e6;
	printf("loop_ms %.3f cpu_ms %.3f retained_bytes %zu retained_count %zu\n", ms, cpu, kept_bytes, nkept);
	fgets(line, sizeof(line), stdin);
	return 0;
}
