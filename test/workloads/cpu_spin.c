// SPDX-License-Identifier: Apache-2.0
/* cpu_spin MS: after a line on stdin, burns about MS milliseconds of its own CPU time in
 * spin_hot(), then prints the CPU time it used (user + system, from getrusage) and "done". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static long cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000L + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000L;
}

__attribute__((noinline)) unsigned long spin_hot(long until_ns)
{
	volatile unsigned long x = 0;
	/* the check costs little beside 1M iterations, so nearly all samples land in this frame */
	while (cpu_ns() < until_ns)
		for (int i = 0; i < 1000000; i++)
			x += i;
	return x;
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 500;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	long before = cpu_ns();
	unsigned long x = spin_hot(before + ms * 1000000L);
	long after = cpu_ns();
	printf("x=%lu\ncpu_ns=%ld\ndone\n", x, after - before);
	return 0;
}
