// SPDX-License-Identifier: Apache-2.0
/* memleak_endbr: an allocator whose functions start with endbr64 (built with -fcf-protection, as
 * CET distributions build glibc), traced with memleak -O THIS --symbols-prefix toy_: the probes go
 * past the endbr64 (stepped by the kernel) to the push after it (emulated). On a line "go":
 *   leak_toy   100 x toy_malloc(1000), kept
 *   churn_toy 1000 x toy_malloc(64) + toy_free, nothing kept
 * then prints "done"; it exits on end of input or a line "exit". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) void *toy_malloc(size_t size)
{
	return malloc(size);
}

__attribute__((noinline)) void toy_free(void *p)
{
	free(p);
}

static void *kept[100];

__attribute__((noinline)) void leak_toy(void)
{
	for (int i = 0; i < 100; i++)
		kept[i] = toy_malloc(1000);
}

__attribute__((noinline)) void churn_toy(void)
{
	for (int i = 0; i < 1000; i++) {
		char *p = toy_malloc(64);
		memset(p, 1, 64);
		toy_free(p);
	}
}

int main(void)
{
	char line[64];
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "go", 2)) {
			leak_toy();
			churn_toy();
			printf("done\n");
		} else if (!strncmp(line, "exit", 4)) {
			break;
		}
	}
	return 0;
}
