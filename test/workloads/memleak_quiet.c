// SPDX-License-Identifier: Apache-2.0
/* memleak_quiet: a process that frees sampled blocks and then goes quiet, for memleak
 * --sample-bytes (the sampler sends frees of sampled blocks along with its next sample, so a
 * quiet process still holds them). Prints "ready"; on a line "go": keep_block keeps 20 x 40000
 * bytes, churn_block allocates 10 x 40000 bytes and frees them all (with --sample-bytes 16384 each
 * block holds at least one sample point: 10 frees wait, fewer than the 16 that are sent on their
 * own), then prints "quiet" and blocks on its input, allocating nothing. Exits at end of input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE 40000
static void *kept[20];
static void *tmp[10];

__attribute__((noinline)) void keep_block(int i)
{
	kept[i] = malloc(SIZE);
	memset(kept[i], 1, SIZE);
}

__attribute__((noinline)) void churn_block(int i)
{
	tmp[i] = malloc(SIZE);
	memset(tmp[i], 2, SIZE);
}

int main(void)
{
	char line[64];
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof line, stdin)) {
		if (strncmp(line, "go", 2) != 0)
			continue;
		for (int i = 0; i < 20; i++)
			keep_block(i);
		for (int i = 0; i < 10; i++)
			churn_block(i);
		for (int i = 0; i < 10; i++)
			free(tmp[i]);
		printf("quiet\n");
	}
	return 0;
}
