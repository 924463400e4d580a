// SPDX-License-Identifier: Apache-2.0
/* memleak_probefail: an allocator object where one probe cannot be attached (issue 10.8).
 * The program brings its own malloc and free (forwarding to glibc's) and its own mmap, whose
 * first instruction (0x06, invalid in 64-bit mode) the kernel refuses to put a uprobe on:
 * `memleak -O THIS -c THIS` must go on without mmap and say so. It is never called.
 * Prints "ready"; on a line "go", leak_f keeps 10 x malloc(100) and it prints "done"; it exits on
 * end of input. */
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);

void *malloc(size_t n)
{
	return __libc_malloc(n);
}

void free(void *p)
{
	__libc_free(p);
}

__asm__(".text\n.globl mmap\n.type mmap, @function\nmmap:\n\t.byte 0x06\n\tret\n.size mmap, .-mmap\n");

static void *kept[10];

__attribute__((noinline)) void leak_f(void)
{
	for (int i = 0; i < 10; i++)
		kept[i] = malloc(100);
}

int main(void)
{
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	leak_f();
	printf("done\n");
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
