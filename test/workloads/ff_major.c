// SPDX-License-Identifier: Apache-2.0
/* ff_major FILE PAGES: writes FILE (PAGES pages), syncs it and drops it from the page cache
 * (POSIX_FADV_DONTNEED), then maps it twice and prints "ready cached=N" (N: pages mincore says
 * are still cached, 0 expected). After a line on stdin it reads one byte of each page through the
 * first mapping (MADV_RANDOM: no readahead, so each page is read from disk by its own fault: a
 * major fault), then writes one byte of each page through the second, shared mapping (the pages
 * are cached now, and a write fault on a shared mapping maps one page, no fault-around: a minor
 * fault each), prints "done" and waits for a line. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long pages = atol(argv[2]);
	long ps = sysconf(_SC_PAGESIZE);
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 1;
	char *buf = malloc(ps);
	memset(buf, 'x', ps);
	for (long i = 0; i < pages; i++)
		if (write(fd, buf, ps) != ps)
			return 1;
	if (fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
		return 1;
	volatile char *rd = mmap(NULL, pages * ps, PROT_READ, MAP_SHARED, fd, 0);
	volatile char *wr = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rd == MAP_FAILED || wr == MAP_FAILED)
		return 1;
	madvise((void *)rd, pages * ps, MADV_RANDOM);
	madvise((void *)wr, pages * ps, MADV_RANDOM);
	unsigned char *vec = calloc(pages, 1);
	long cached = 0;
	if (mincore((void *)rd, pages * ps, vec))
		return 1;
	for (long i = 0; i < pages; i++)
		cached += vec[i] & 1;
	printf("ready cached=%ld\n", cached);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	struct rusage r0, r1, r2;
	getrusage(RUSAGE_SELF, &r0);
	long sum = 0;
	for (long i = 0; i < pages; i++)
		sum += rd[i * ps];
	getrusage(RUSAGE_SELF, &r1);
	for (long i = 0; i < pages; i++)
		wr[i * ps] = 'y';
	getrusage(RUSAGE_SELF, &r2);
	/* the kernel's own counts of the two phases (ru_majflt, ru_minflt) */
	printf("done read=%ld/%ld write=%ld/%ld sum=%ld\n", r1.ru_majflt - r0.ru_majflt, r1.ru_minflt - r0.ru_minflt,
	       r2.ru_majflt - r1.ru_majflt, r2.ru_minflt - r1.ru_minflt, sum / 'x');
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	return 0;
}
