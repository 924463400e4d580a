// SPDX-License-Identifier: Apache-2.0
/* vm_ops MODE ARGS: after a line on stdin, makes known memory events, then prints "done".
 *   brk SIZE...        grows the heap by each SIZE (bytes) with raw brk() calls, from grow_by()
 *   map                mmap 3 x 1 MiB and 2 x 256 KiB, munmap one 1 MiB map, mremap 256 KiB -> 512 KiB,
 *                      brk +64 KiB twice, all from map_some(): mapped 3.75 MiB, unmapped 1 MiB, brk +128 KiB
 *   faults N           touches N fresh anonymous pages once each, from touch_pages()
 *   madvise N          calls madvise(MADV_HUGEPAGE) N times, from advise_huge()
 *   malloc N           calls malloc(100) and free() N times, from allocate()
 *   fragment MB        maps MB MiB, frees every other page, then writes 1 to /proc/sys/vm/compact_memory
 * Raw syscalls keep the frame-pointer chain intact (Debian's libc has none). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
	return ret;
}

#define PG 4096L

__attribute__((noinline)) void grow_by(char **sizes, int n)
{
	long end = sys6(12, 0, 0, 0, 0, 0, 0);
	for (int i = 0; i < n; i++) {
		end += atol(sizes[i]);
		sys6(12, end, 0, 0, 0, 0, 0);
	}
}

__attribute__((noinline)) void map_some(void)
{
	long big[3], small[2];
	for (int i = 0; i < 3; i++)
		big[i] = sys6(9, 0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 2; i++)
		small[i] = sys6(9, 0, 256 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sys6(11, big[1], 1 << 20, 0, 0, 0, 0);
	sys6(25, small[0], 256 << 10, 512 << 10, MREMAP_MAYMOVE, 0, 0);
	long end = sys6(12, 0, 0, 0, 0, 0, 0);
	sys6(12, end + (64 << 10), 0, 0, 0, 0, 0);
	sys6(12, end + (128 << 10), 0, 0, 0, 0, 0);
}

__attribute__((noinline)) void touch_pages(char *p, int n)
{
	for (int i = 0; i < n; i++)
		p[(long)i * PG] = 1;
}

__attribute__((noinline)) void advise_huge(char *p, int n)
{
	for (int i = 0; i < n; i++)
		sys6(28, (long)p, 2 << 20, MADV_HUGEPAGE, 0, 0, 0);
}

__attribute__((noinline)) void allocate(int n)
{
	for (int i = 0; i < n; i++)
		free(malloc(100));
}

__attribute__((noinline)) void fragment(long mb)
{
	long len = mb << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, len, MADV_NOHUGEPAGE);
	for (long o = 0; o < len; o += PG)
		p[o] = 1;
	for (long o = 0; o < len; o += 2 * PG)
		madvise(p + o, PG, MADV_DONTNEED);
	int fd = open("/proc/sys/vm/compact_memory", O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1)
		perror("compact_memory");
	close(fd);
}

int main(int argc, char **argv)
{
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stdin, NULL, _IONBF, 0); /* no stdio buffer: no malloc, no brk of its own */
	if (argc < 2)
		return 2;
	const char *mode = argv[1];
	int n = argc > 2 ? atoi(argv[2]) : 10;
	char *area = NULL;
	if (!strcmp(mode, "faults") || !strcmp(mode, "madvise")) {
		area = mmap(NULL, (n + 1) * PG + (4 << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		madvise(area, (n + 1) * PG + (4 << 20), MADV_NOHUGEPAGE);
	}
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	if (!strcmp(mode, "brk"))
		grow_by(argv + 2, argc - 2);
	else if (!strcmp(mode, "map"))
		map_some();
	else if (!strcmp(mode, "faults"))
		touch_pages(area, n);
	else if (!strcmp(mode, "madvise"))
		advise_huge(area, n);
	else if (!strcmp(mode, "malloc"))
		allocate(n);
	else if (!strcmp(mode, "fragment"))
		fragment(n);
	printf("done\n");
	return 0;
}
