// SPDX-License-Identifier: Apache-2.0
/* swapread MB ZERO_PCT PASSES: after a line on stdin, writes every page of an MB MiB anonymous
 * working set once, 0 in the first ZERO_PCT% of its pages and a non-zero byte in the rest
 * (write_set), then only READS every page PASSES-1 more times (read_set), then prints "done".
 * In a memory cgroup whose limit is under MB with swap on: zero pages go out without a write to
 * the device (kernel 6.12+ zeromap: SWPIN_ZERO, not PSWPIN, when they come back), and a page read
 * back stays on swap, so reclaim later drops it clean, with no new swap-out write. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

__attribute__((noinline)) void write_set(volatile char *p, long len, long zero_pages)
{
	for (long i = 0; i < len / 4096; i++)
		p[i * 4096] = i < zero_pages ? 0 : (char)(1 + (i & 0x7f));
}

__attribute__((noinline)) unsigned long read_set(volatile char *p, long len, int passes)
{
	unsigned long sum = 0;
	for (int k = 0; k < passes; k++)
		for (long o = 0; o < len; o += 4096)
			sum += p[o];
	return sum;
}

int main(int argc, char **argv)
{
	long mb = argc > 1 ? atol(argv[1]) : 64;
	long zero_pct = argc > 2 ? atol(argv[2]) : 0;
	int passes = argc > 3 ? atoi(argv[3]) : 3;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stdin, NULL, _IONBF, 0);
	long len = mb << 20;
	/* the program's own pages stay in memory: only the working set, unlocked below, can swap */
	mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	munlock(p, len);
	madvise(p, len, MADV_NOHUGEPAGE);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	write_set(p, len, len / 4096 * zero_pct / 100);
	printf("sum %lu\n", read_set(p, len, passes - 1));
	printf("done\n");
	return 0;
}
