// SPDX-License-Identifier: Apache-2.0
/* brk_grow N: after a line on stdin, grows the heap N times by 4 KiB with brk() called from
 * grow_heap() (a raw syscall, so the frame-pointer chain is intact), then prints "done". */
#include <stdio.h>
#include <stdlib.h>

static inline __attribute__((always_inline)) long raw_brk(long addr)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(12L), "D"(addr) : "rcx", "r11", "memory");
	return ret;
}

__attribute__((noinline)) long heap_end(void) { return raw_brk(0); }

__attribute__((noinline)) void grow_heap(long end, int n)
{
	for (int i = 1; i <= n; i++)
		raw_brk(end + 4096L * i);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	long end = heap_end();
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	grow_heap(end, n);
	printf("done\n");
	return 0;
}
