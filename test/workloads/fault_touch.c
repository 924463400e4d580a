// SPDX-License-Identifier: Apache-2.0
/* fault_touch PAGES: after a line on stdin, touch_pages() writes one byte to each of PAGES fresh
 * pages of an anonymous mapping (huge pages off, so each touch is one fault), then prints "done". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) void touch_pages(volatile char *buf, long pages, long pagesize)
{
	for (long i = 0; i < pages; i++)
		buf[i * pagesize] = 1;
}

int main(int argc, char **argv)
{
	long pages = argc > 1 ? atol(argv[1]) : 1000;
	long pagesize = sysconf(_SC_PAGESIZE);
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	char *buf = mmap(NULL, pages * pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	madvise(buf, pages * pagesize, MADV_NOHUGEPAGE);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	touch_pages(buf, pages, pagesize);
	printf("done\n");
	return 0;
}
