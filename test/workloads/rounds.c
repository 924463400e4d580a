// SPDX-License-Identifier: Apache-2.0
/* rounds N: for each line on stdin, calls madvise(MADV_NORMAL) on one page N times and touches N
 * fresh pages (one fault each, from touch_round()), then prints "done K" (K counts the rounds);
 * ends at end of input. A test moves it to another cgroup between
 * rounds (as `docker exec` or a runtime placing its child does) and tells its rounds apart. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* under 2 MiB (N of a few hundred at most): no transparent huge page, one fault per page */
__attribute__((noinline)) void touch_round(int n, long pg)
{
	volatile char *a = mmap(NULL, n * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return;
	for (int i = 0; i < n; i++)
		a[i * pg] = 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stdin, NULL, _IONBF, 0);
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	printf("ready\n");
	for (int k = 1; fgets(line, sizeof(line), stdin); k++) {
		for (int i = 0; i < n; i++)
			syscall(SYS_madvise, p, pg, MADV_NORMAL);
		touch_round(n, pg);
		printf("done %d\n", k);
	}
	return 0;
}
