// SPDX-License-Identifier: Apache-2.0
/* oom_touch MIB: maps MIB MiB of private anonymous memory, prints "ready", waits for a line on
 * stdin, then writes one byte in every page from touch_pages(), called through fill_region() from
 * main, and prints "done" (if it was not OOM-killed first). Built -O2 -fomit-frame-pointer by the
 * oomkill tests: the OOM's trigger stack (its page fault in touch_pages) must be DWARF-unwound to
 * reach main. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) void touch_pages(volatile char *p, size_t size, long page)
{
	for (size_t off = 0; off < size; off += page)
		p[off] = (char)(off >> 12);
}

__attribute__((noinline)) void fill_region(volatile char *p, size_t size)
{
	touch_pages(p, size, sysconf(_SC_PAGESIZE));
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: oom_touch MIB\n");
		return 2;
	}
	size_t size = (size_t)atol(argv[1]) << 20;
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
	fill_region(p, size);
	printf("done\n");
	return 0;
}
