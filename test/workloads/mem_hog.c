// SPDX-License-Identifier: Apache-2.0
/* mem_hog MIB [PASSES [hold]]: maps MIB MiB of private anonymous memory, prints "ready", waits for
 * a line on stdin, then writes one byte in every page PASSES times (default 1; pass 2 and later
 * read the page first, so pages swapped out are swapped back in) and prints "pass N" after each.
 * Then prints "done" and exits, or with "hold" waits for another line (or EOF) first.
 * Used by tests that need memory pressure: OOM kills (more than its memcg allows), memcg reclaim
 * and swap (a few times its memcg limit, twice). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: mem_hog MIB [PASSES [hold]]\n");
		return 2;
	}
	size_t size = (size_t)atol(argv[1]) << 20;
	int passes = argc > 2 ? atoi(argv[2]) : 1;
	int hold = argc > 3 && strcmp(argv[3], "hold") == 0;
	long page = sysconf(_SC_PAGESIZE);
	char line[64];

	setvbuf(stdout, NULL, _IONBF, 0);
	volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	unsigned long sum = 0;
	for (int pass = 1; pass <= passes; pass++) {
		for (size_t off = 0; off < size; off += page) {
			if (pass > 1)
				sum += p[off];
			p[off] = (char)(pass + (off >> 12));
		}
		printf("pass %d\n", pass);
	}
	printf("done\n");
	if (hold && !fgets(line, sizeof(line), stdin))
		line[0] = 0; /* EOF: stop holding */
	(void)sum; /* the reads are volatile: kept without using the value */
	return 0;
}
