// SPDX-License-Identifier: Apache-2.0
/* ff_touch FILE FILEPAGES ANONPAGES HEAPPAGES STACKPAGES: maps FILE (created, FILEPAGES pages)
 * shared and prints "ready"; after a line on stdin it writes one byte to each page of the file
 * mapping (a write fault on a shared mapping is one fault per page: no fault-around; MADV_RANDOM
 * keeps the page cache from building large folios that one fault would map whole), to ANONPAGES
 * pages of an anonymous mapping, to HEAPPAGES pages of a malloc'd block kept on the brk heap, and to
 * STACKPAGES pages of stack below the current frame (32 pages down), then prints "done" and waits for a line. */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static long pagesize;

__attribute__((noinline)) void touch(volatile char *p, long pages)
{
	for (long i = 0; i < pages; i++)
		p[i * pagesize] = 1;
}

/* From the top of a big frame downwards, so each page below the stack is a new fault; the 32 pages
 * nearest the caller are left alone (start-up code may have used them). */
__attribute__((noinline)) void touch_stack(long pages)
{
	volatile char *top = __builtin_alloca((pages + 32) * pagesize);
	for (long i = pages - 1; i >= 0; i--)
		top[i * pagesize] = 1;
}

int main(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	long file_pages = atol(argv[2]), anon_pages = atol(argv[3]);
	long heap_pages = atol(argv[4]), stack_pages = atol(argv[5]);
	char line[16];
	pagesize = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IONBF, 0);
	/* malloc from the brk heap, however big */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
	mallopt(M_TOP_PAD, 0);

	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, file_pages * pagesize))
		return 1;
	char *file = mmap(NULL, file_pages * pagesize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *anon = mmap(NULL, anon_pages * pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* malloc writes chunk headers in the first and past the last page: touch the pages between */
	char *heap = malloc((heap_pages + 2) * pagesize);
	if (file == MAP_FAILED || anon == MAP_FAILED || !heap)
		return 1;
	/* no readahead into large folios: a write fault then maps one page, not a whole folio */
	madvise(file, file_pages * pagesize, MADV_RANDOM);
	madvise(anon, anon_pages * pagesize, MADV_NOHUGEPAGE);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	touch(file, file_pages);
	touch(anon, anon_pages);
	touch(heap + pagesize, heap_pages);
	touch_stack(stack_pages);
	printf("done\n");
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	return 0;
}
