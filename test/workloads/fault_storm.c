// SPDX-License-Identifier: Apache-2.0
/* fault_storm RATE SECONDS [go]: a page-fault storm at RATE faults per second for SECONDS.
 * Prints "ready", waits for a line on stdin (unless "go" is given: then it starts at once), then
 * loops: maps 64 fresh anonymous pages (huge pages off, so each touch is one fault), writes one
 * byte to each in storm_touch(), unmaps them, and sleeps in 10 ms slices to keep the rate.
 * Ends with "touched=N minflt=M total=T": N pages touched (so N faults in storm_touch), M the minor
 * faults getrusage counted in the storm phase (the touches plus whatever else it faulted), T those
 * of its whole life (no tracer can see more of its faults than T). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 64

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) void storm_touch(volatile char *p, long pages, long pagesize)
{
	for (long i = 0; i < pages; i++)
		p[i * pagesize] = 1;
}

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

int main(int argc, char **argv)
{
	long rate = argc > 1 ? atol(argv[1]) : 50000;
	double seconds = argc > 2 ? atof(argv[2]) : 10;
	int wait = !(argc > 3 && strcmp(argv[3], "go") == 0);
	long pagesize = sysconf(_SC_PAGESIZE);
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	if (wait && !fgets(line, sizeof(line), stdin))
		return 1;
	long m0 = minflt();
	long long t0 = now_ns(), end = t0 + (long long)(seconds * 1e9);
	long touched = 0;
	for (;;) {
		long long t = now_ns();
		if (t >= end)
			break;
		/* how many faults should have happened by now: catch up in chunks, then sleep */
		long due = (long)((double)(t - t0) / 1e9 * rate);
		if (touched >= due) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			continue;
		}
		char *p = mmap(NULL, CHUNK * pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		madvise(p, CHUNK * pagesize, MADV_NOHUGEPAGE);
		storm_touch(p, CHUNK, pagesize);
		munmap(p, CHUNK * pagesize);
		touched += CHUNK;
	}
	long m1 = minflt();
	long long ns = now_ns() - t0;
	/* printing may fault (stdio's buffer): total is taken after it, on the line's own */
	printf("touched=%ld minflt=%ld ns=%lld\n", touched, m1 - m0, ns);
	printf("total=%ld\n", minflt());
	return 0;
}
