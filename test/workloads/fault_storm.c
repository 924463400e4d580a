// SPDX-License-Identifier: Apache-2.0
/* fault_storm [--file] RATE SECONDS [go]: a page-fault storm at RATE faults per second for SECONDS.
 * Prints "ready", waits for a line on stdin (unless "go" is given: then it starts at once), then
 * loops: 64 pages are written once each in storm_touch() (one fault per page), then unmapped, and
 * it sleeps in 10 ms slices to keep the rate. The pages are
 *   - by default: 64 fresh anonymous pages mapped per round (huge pages off), each fault allocating
 *     and zeroing a page;
 *   - with --file: one shared mapping of a 64-page memfd (shmem) whose pages stay in the page
 *     cache; each round writes them and MADV_DONTNEED drops only the page table entries, so each
 *     fault just maps a cached page (no allocation, no zeroing, no mmap/munmap per round): the
 *     cheapest fault the kernel has, about twice the anonymous rate on one CPU. Write faults on a
 *     shared mapping never map neighbours (fault-around is for read faults), and the mapping is
 *     MADV_NOHUGEPAGE before its pages are made (so they are small folios): one fault per touch.
 * Ends with "touched=N minflt=M ns=D" and "total=T": N pages touched (so N faults in storm_touch),
 * M the minor faults getrusage counted in the storm phase (the touches plus whatever else it
 * faulted), D its length, T the minor faults of its whole life (no tracer can see more than T). */
#define _GNU_SOURCE
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

/* The --file mode's mapping: a memfd of CHUNK pages, shared, its pages made (and their page table
 * entries dropped again) before the storm so that every storm fault finds its page cached. */
static char *shared_pages(long pagesize)
{
	int fd = memfd_create("fault_storm", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, CHUNK * pagesize) != 0) {
		perror("memfd");
		exit(1);
	}
	char *p = mmap(NULL, CHUNK * pagesize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, CHUNK * pagesize, MADV_NOHUGEPAGE);
	memset(p, 0, CHUNK * pagesize);
	madvise(p, CHUNK * pagesize, MADV_DONTNEED);
	return p;
}

int main(int argc, char **argv)
{
	int file = argc > 1 && strcmp(argv[1], "--file") == 0;
	argv += file;
	argc -= file;
	long rate = argc > 1 ? atol(argv[1]) : 50000;
	double seconds = argc > 2 ? atof(argv[2]) : 10;
	int wait = !(argc > 3 && strcmp(argv[3], "go") == 0);
	long pagesize = sysconf(_SC_PAGESIZE);
	char *shared = file ? shared_pages(pagesize) : NULL;
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
		if (shared) {
			storm_touch(shared, CHUNK, pagesize);
			madvise(shared, CHUNK * pagesize, MADV_DONTNEED);
		} else {
			char *p = mmap(NULL, CHUNK * pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) {
				perror("mmap");
				return 1;
			}
			madvise(p, CHUNK * pagesize, MADV_NOHUGEPAGE);
			storm_touch(p, CHUNK, pagesize);
			munmap(p, CHUNK * pagesize);
		}
		touched += CHUNK;
	}
	long m1 = minflt();
	long long ns = now_ns() - t0;
	/* printing may fault (stdio's buffer): total is taken after it, on the line's own */
	printf("touched=%ld minflt=%ld ns=%lld\n", touched, m1 - m0, ns);
	printf("total=%ld\n", minflt());
	return 0;
}
