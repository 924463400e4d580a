// SPDX-License-Identifier: Apache-2.0
/* memleak_nofp: leaks through code built without frame pointers (issue 10.3). Built with -O2
 * -fomit-frame-pointer except main, which keeps one: so at malloc rbp still points at main's
 * frame, and a frame-pointer walk from leaf_alloc goes straight to main's caller, skipping
 * mid_b, mid_a and main (the "made up" callers of the issue). Every block is lost (valgrind:
 * "definitely lost"):
 *   leaf_alloc <- mid_b <- mid_a <- main     5 x 100 bytes
 *   direct_leak <- main                      3 x 200 bytes
 * then it exits. */
#include <stdlib.h>
#include <string.h>

volatile unsigned long sink;

__attribute__((noinline)) void *leaf_alloc(size_t n)
{
	char *p = malloc(n);
	memset(p, 1, n);
	sink += (unsigned long)p[n - 1];
	return p;
}

__attribute__((noinline)) void mid_b(int k)
{
	for (int i = 0; i < k; i++)
		sink += (unsigned long)leaf_alloc(100) & 1; /* the pointer is dropped: lost */
}

__attribute__((noinline)) void mid_a(int k)
{
	mid_b(k);
	sink++;
}

__attribute__((noinline)) void direct_leak(void)
{
	for (int i = 0; i < 3; i++) {
		char *p = malloc(200);
		p[0] = 1;
		sink += (unsigned long)p[0];
	}
}

__attribute__((optimize("no-omit-frame-pointer"))) int main(void)
{
	mid_a(5);
	direct_leak();
	sink++;
	return 0;
}
