// SPDX-License-Identifier: Apache-2.0
/* probe_target N: after a line on stdin, calls probe_me(i) for i in 0..N-1, then prints "done". */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) long probe_me(long v)
{
	__asm__ volatile("" ::: "memory");
	return v * 2;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;
	char line[16];
	long sum = 0;
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < n; i++)
		sum += probe_me(i);
	printf("sum=%ld\ndone\n", sum);
	return 0;
}
