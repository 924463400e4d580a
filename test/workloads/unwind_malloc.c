// SPDX-License-Identifier: Apache-2.0
/* unwind_malloc MODE N [DEPTH]: after a line on stdin, grows the heap through malloc() N times
 * (libc's malloc → sysmalloc → sbrk → brk), then prints "grew K" (the brk growths it saw) and
 * "done". Built -O2 -fomit-frame-pointer for DWARF unwinding tests (and with frame pointers as a
 * twin). MODE: "app" mallocs from this file (main → outer_level → middle_level → grow_by_malloc),
 * "lib" through libunwind_lib.so (main → outer_level → lib_outer → lib_grow, built without frame
 * pointers), "deep" from the bottom of a recursion of DEPTH frames of recurse(), "churn" grows and
 * shrinks the heap N times (malloc → brk up, free → systrim → brk down: 2N brk calls, for benches),
 * "signal" mallocs in a SIGUSR1 handler (on_signal) that send_signal() raises: the stack goes
 * through the kernel's signal frame (libc's __restore_rt, CFI with DWARF expressions), "clock"
 * calls clock_gettime() for the first time from read_clock(): the vDSO takes page faults, "thread"
 * touches N fresh pages from thread_worker() in a new thread (faults on a thread's stack of calls),
 * "mmaps" makes N anonymous mmap()s of 1 to 4 pages from map_one() (each unmapped at once), in
 * bursts of DEPTH with 200 ms between them: a stream of DWARF samples faster than a slowed consumer;
 * "named" makes N rounds of 8 anonymous mmap()s, each of K pages from its own map_pages_K() (K = 1
 * to 8, each unmapped at once): every event's size says which function its stack must show;
 * "leaks" mallocs N blocks of 48, 64, 80, 96 bytes in turn from leak_one(), none freed, in bursts
 * of DEPTH with 200 ms between them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include <signal.h>
#include <time.h>
#include <pthread.h>
#include <sys/mman.h>

#ifdef WITH_LIB
extern long lib_outer(int n, long (*count)(void *));
#endif

static void *prev_brk;
static long growths;
static void *keep[4096];
static int nkeep;

/* counts brk growths: sbrk(0) does no system call, it returns libc's cached break */
__attribute__((noinline)) long note_growth(void *p)
{
	void *now = sbrk(0);
	if (now != prev_brk) {
		growths++;
		prev_brk = now;
	}
	if (nkeep < 4096)
		keep[nkeep++] = p;
	return (long)p & 1;
}

__attribute__((noinline)) long grow_by_malloc(int n)
{
	long r = 0;
	for (int i = 0; i < n; i++) {
		/* below the mmap threshold, bigger than the top pad: every call grows the heap */
		char *p = malloc(64 * 1024 + i * 4096);
		memset(p, 1, 16);
		r += note_growth(p);
	}
	return r;
}

__attribute__((noinline)) long middle_level(int n)
{
	long r = grow_by_malloc(n);
	__asm__ volatile("" ::: "memory");
	return r + 1;
}

__attribute__((noinline)) long recurse(int depth, int n)
{
	long r;
	if (depth <= 1)
		r = grow_by_malloc(n);
	else
		r = recurse(depth - 1, n);
	__asm__ volatile("" ::: "memory");
	return r + depth;
}

__attribute__((noinline)) long churn(int n)
{
	long r = 0;
	mallopt(M_TRIM_THRESHOLD, 0);
	for (int i = 0; i < n; i++) {
		char *p = malloc(64 * 1024);
		memset(p, 1, 16);
		r += p[i & 15];
		free(p);
	}
	return r;
}

static int signal_n;
static volatile long signal_r;

__attribute__((noinline)) void on_signal(int sig)
{
	signal_r = grow_by_malloc(signal_n) + sig;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) long send_signal(int n)
{
	signal_n = n;
	signal(SIGUSR1, on_signal);
	raise(SIGUSR1);
	__asm__ volatile("" ::: "memory");
	return signal_r + 1;
}

__attribute__((noinline)) long read_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	__asm__ volatile("" ::: "memory");
	return ts.tv_nsec & 1;
}

__attribute__((noinline)) void *thread_worker(void *arg)
{
	long n = (long)arg;
	char *p = malloc(n * 4096 + 4096);
	for (long i = 0; i < n; i++)
		p[i * 4096] = 1;
	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) long in_thread(int n)
{
	pthread_t t;
	void *r;
	pthread_create(&t, NULL, thread_worker, (void *)(long)n);
	pthread_join(t, &r);
	return (long)r & 1;
}

__attribute__((noinline)) long map_one(int i)
{
	size_t len = 4096 * (1 + (i & 3));
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	__asm__ volatile("" ::: "memory");
	munmap(p, len);
	return 1;
}

__attribute__((noinline)) long map_bursts(int n, int burst)
{
	long r = 0;
	for (int i = 0; i < n; i++) {
		if (i && burst > 0 && i % burst == 0)
			usleep(200000);
		r += map_one(i);
	}
	__asm__ volatile("" ::: "memory");
	return r;
}

/* map_pages_K maps and unmaps K pages: one function per size (named mode) */
#define MAP_PAGES(K)                                                                                  \
	__attribute__((noinline)) long map_pages_##K(void)                                            \
	{                                                                                             \
		char *p = mmap(NULL, 4096 * K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); \
		if (p == MAP_FAILED)                                                                  \
			return 0;                                                                     \
		__asm__ volatile("" ::: "memory");                                                    \
		munmap(p, 4096 * K);                                                                  \
		return K;                                                                             \
	}
MAP_PAGES(1)
MAP_PAGES(2)
MAP_PAGES(3)
MAP_PAGES(4)
MAP_PAGES(5)
MAP_PAGES(6)
MAP_PAGES(7)
MAP_PAGES(8)

__attribute__((noinline)) long named_rounds(int n)
{
	long r = 0;
	for (int i = 0; i < n; i++)
		r += map_pages_1() + map_pages_2() + map_pages_3() + map_pages_4() + map_pages_5() + map_pages_6() +
		     map_pages_7() + map_pages_8();
	__asm__ volatile("" ::: "memory");
	return r;
}

static void *leaked;

__attribute__((noinline)) long leak_one(int i)
{
	void **p = malloc(48 + 16 * (i & 3));
	if (!p)
		return 0;
	*p = leaked; /* kept reachable: a chain of every block */
	leaked = p;
	__asm__ volatile("" ::: "memory");
	return 1;
}

__attribute__((noinline)) long leak_bursts(int n, int burst)
{
	long r = 0;
	for (int i = 0; i < n; i++) {
		if (i && burst > 0 && i % burst == 0)
			usleep(200000);
		r += leak_one(i);
	}
	__asm__ volatile("" ::: "memory");
	return r;
}

__attribute__((noinline)) long outer_level(const char *mode, int n, int depth)
{
	long r;
	if (!strcmp(mode, "deep"))
		r = recurse(depth, n);
	else if (!strcmp(mode, "churn"))
		r = churn(n);
	else if (!strcmp(mode, "signal"))
		r = send_signal(n);
	else if (!strcmp(mode, "clock"))
		r = read_clock();
	else if (!strcmp(mode, "thread"))
		r = in_thread(n);
	else if (!strcmp(mode, "leaks")) {
		r = leak_bursts(n, depth);
		printf("leaked %ld\n", r);
	} else if (!strcmp(mode, "named")) {
		r = named_rounds(n);
		printf("mapped %ld pages\n", r);
	} else if (!strcmp(mode, "mmaps")) {
		r = map_bursts(n, depth);
		printf("mapped %ld\n", r);
	}
#ifdef WITH_LIB
	else if (!strcmp(mode, "lib"))
		r = lib_outer(n, note_growth);
#endif
	else
		r = middle_level(n);
	__asm__ volatile("" ::: "memory");
	return r + 2;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "app";
	int n = argc > 2 ? atoi(argv[2]) : 10;
	int depth = argc > 3 ? atoi(argv[3]) : 1;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	mallopt(M_TOP_PAD, 0);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	free(malloc(16)); /* the heap exists, libc knows the break */
	prev_brk = sbrk(0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	long r = outer_level(mode, n, depth);
	printf("grew %ld\n", growths);
	printf("done %ld\n", r & 1);
	return 0;
}
