// SPDX-License-Identifier: Apache-2.0
/* thrash MB PASSES: after a line on stdin, writes one byte in every page of an MB MiB anonymous
 * working set, PASSES times over, from touch_set(), then prints "done". In a memory cgroup whose
 * limit is under MB with swap on, every pass after the first swaps the set back in; with one pass
 * nothing comes back from swap (the program's other pages are locked in memory). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

__attribute__((noinline)) void touch_set(volatile char *p, long len, int passes)
{
	for (int i = 0; i < passes; i++)
		for (long o = 0; o < len; o += 4096)
			p[o] = (char)i + 1;
}

int main(int argc, char **argv)
{
	long mb = argc > 1 ? atol(argv[1]) : 64;
	int passes = argc > 2 ? atoi(argv[2]) : 3;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stdin, NULL, _IONBF, 0);
	long len = mb << 20;
	/* the program's own pages (stack, libc data, also those first touched later) stay in memory:
	 * only the working set, unlocked below, can swap */
	mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	munlock(p, len);
	madvise(p, len, MADV_NOHUGEPAGE);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	touch_set(p, len, passes);
	printf("done\n");
	return 0;
}
