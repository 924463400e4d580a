// SPDX-License-Identifier: Apache-2.0
/* hf_touch HUGEPAGES SMALLPAGES: maps HUGEPAGES huge pages (MAP_HUGETLB) and SMALLPAGES ordinary
 * anonymous pages, prints "ready"; after a line on stdin it writes to every 4 KiB of each huge page
 * (one fault per huge page: the first write maps all of it) and to each ordinary page, then prints
 * "done" and waits for a line. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE (2L * 1024 * 1024)

__attribute__((noinline)) void touch(volatile char *p, long bytes, long stride)
{
	for (long off = 0; off < bytes; off += stride)
		p[off] = 1;
}

int main(int argc, char **argv)
{
	long huge = argc > 1 ? atol(argv[1]) : 1, small = argc > 2 ? atol(argv[2]) : 0;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	char *h = mmap(NULL, huge * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (h == MAP_FAILED) {
		perror("mmap MAP_HUGETLB");
		return 1;
	}
	char *s = mmap(NULL, (small ? small : 1) * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		return 1;
	madvise(s, (small ? small : 1) * 4096, MADV_NOHUGEPAGE);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	touch(h, huge * HUGE, 4096);
	touch(s, small * 4096, 4096);
	printf("done\n");
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	return 0;
}
