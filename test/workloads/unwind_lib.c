// SPDX-License-Identifier: Apache-2.0
/* libunwind_lib.so for unwind_malloc "lib": malloc-driven heap growth two frames deep in a shared
 * library built -O2 -fomit-frame-pointer. */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) long lib_grow(int n, long (*count)(void *))
{
	long r = 0;
	for (int i = 0; i < n; i++) {
		char *p = malloc(64 * 1024 + i * 4096);
		memset(p, 2, 16);
		r += count(p);
	}
	return r;
}

long lib_outer(int n, long (*count)(void *))
{
	long r = lib_grow(n, count);
	__asm__ volatile("" ::: "memory");
	return r + 3;
}
