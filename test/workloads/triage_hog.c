// SPDX-License-Identifier: Apache-2.0
// triage_hog MB [passes]: maps MB of anonymous memory and writes every page, PASSES times
// (0 = until killed), in touch_pages(), so page faults, swapping and OOM kills come from a
// known function. Waits for "go" on stdin first when the environment has HOG_WAIT=1.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) static unsigned long touch_pages(char *p, size_t bytes, long page)
{
	unsigned long sum = 0;
	for (size_t off = 0; off < bytes; off += page) {
		p[off] = (char)(off >> 12);
		sum += (unsigned char)p[off];
	}
	return sum;
}

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	long passes = argc > 2 ? strtol(argv[2], NULL, 10) : 1;
	long page = sysconf(_SC_PAGESIZE);
	size_t bytes = mb << 20;
	char line[16];

	setvbuf(stdout, NULL, _IONBF, 0);
	if (getenv("HOG_WAIT")) {
		printf("ready\n");
		if (!fgets(line, sizeof line, stdin))
			return 1;
	}
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	unsigned long sum = 0;
	for (long i = 0; passes == 0 || i < passes; i++) {
		sum += touch_pages(p, bytes, page);
		if (getenv("HOG_FRESH")) { // give the memory back so the next pass faults again
			madvise(p, bytes, MADV_DONTNEED);
		}
		if (i == 0)
			printf("touched %zu MB\n", mb);
	}
	printf("done %lu\n", sum);
	return 0;
}
