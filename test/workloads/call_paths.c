// SPDX-License-Identifier: Apache-2.0
/* call_paths KIND BITS ROUNDS: 2^BITS distinct user stacks, each making ROUNDS calls of KIND (brk:
 * the heap grown 4 KiB; mmap: 4 KiB mapped and unmapped at once). Path i goes down BITS levels,
 * through left() where bit l of i is set and right() where it is clear, so every path's chain of
 * return addresses differs: as many distinct stacks as paths, all in one process (a stack store
 * that keeps one stack per hash bucket loses some of them). Each call is a raw syscall from
 * leaf(), so the frame-pointer chain is intact. Prints "ready PATHS", waits for a line, works,
 * prints "done". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bits, rounds, use_mmap;
static long brk_end;

static inline __attribute__((always_inline)) long raw_syscall2(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
}

static inline __attribute__((always_inline)) long raw_mmap(long len)
{
	long ret;
	register long r10 __asm__("r10") = 0x22; /* MAP_PRIVATE | MAP_ANONYMOUS */
	register long r8 __asm__("r8") = -1;
	register long r9 __asm__("r9") = 0;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(9L), "D"(0L), "S"(len), "d"(3L), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
	return ret;
}

__attribute__((noinline)) void leaf(void)
{
	for (int r = 0; r < rounds; r++) {
		if (use_mmap) {
			long p = raw_mmap(4096);
			raw_syscall2(11 /* munmap */, p, 4096);
		} else {
			brk_end += 4096;
			raw_syscall2(12 /* brk */, brk_end, 0);
		}
	}
}

void down(int level, unsigned path);

__attribute__((noinline)) void left(int level, unsigned path) { down(level + 1, path); }
__attribute__((noinline)) void right(int level, unsigned path) { down(level + 1, path); }

__attribute__((noinline)) void down(int level, unsigned path)
{
	if (level == bits)
		leaf();
	else if (path >> level & 1)
		left(level, path);
	else
		right(level, path);
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	use_mmap = !strcmp(argv[1], "mmap");
	bits = atoi(argv[2]);
	rounds = atoi(argv[3]);
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready %u\n", 1u << bits);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	/* after stdio's buffers were allocated (malloc may have moved the break): every brk then
	 * grows the heap by exactly 4 KiB */
	brk_end = raw_syscall2(12, 0, 0);
	for (unsigned p = 0; p < 1u << bits; p++)
		down(0, p);
	printf("done\n");
	return 0;
}
