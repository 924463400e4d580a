// SPDX-License-Identifier: Apache-2.0
/* memleak_sites: allocation sites with known outstanding bytes, for memscope memleak.
 * Before main, a constructor leaks 7 x 333 bytes (early_alloc). After "ready", on a line "go":
 *   leak_a       100 x malloc(1000), kept
 *   leak_b       50 x calloc(1, 64), kept
 *   grow_c       one block realloc'd from 1 KiB up to 1 MiB, kept
 *   churn_d      100,000 x malloc(48) + free, nothing kept
 *   leak_thread  10 x malloc(4096) in a second thread, kept
 * then prints "done". On a line "young": leak_e 20 x malloc(500), kept; prints "young done".
 * It exits on end of input or a line "exit". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *kept[1000];
static int nkept;

__attribute__((noinline)) void early_alloc(void)
{
	for (int i = 0; i < 7; i++)
		kept[nkept++] = malloc(333);
}

__attribute__((constructor)) static void before_main(void)
{
	early_alloc();
}

__attribute__((noinline)) void leak_a(void)
{
	for (int i = 0; i < 100; i++)
		kept[nkept++] = malloc(1000);
}

__attribute__((noinline)) void leak_b(void)
{
	for (int i = 0; i < 50; i++)
		kept[nkept++] = calloc(1, 64);
}

__attribute__((noinline)) void grow_c(void)
{
	void *p = NULL;
	for (size_t size = 1024; size <= 1024 * 1024; size *= 2)
		p = realloc(p, size);
	kept[nkept++] = p;
}

__attribute__((noinline)) void churn_d(void)
{
	for (int i = 0; i < 100000; i++) {
		void *p = malloc(48);
		memset(p, 1, 48);
		free(p);
	}
}

__attribute__((noinline)) void leak_thread_allocs(void)
{
	for (int i = 0; i < 10; i++)
		kept[nkept++] = malloc(4096);
}

static void *leak_thread(void *arg)
{
	(void)arg;
	leak_thread_allocs();
	return NULL;
}

__attribute__((noinline)) void leak_e(void)
{
	for (int i = 0; i < 20; i++)
		kept[nkept++] = malloc(500);
}

int main(void)
{
	char line[64];
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "go", 2)) {
			leak_a();
			leak_b();
			grow_c();
			churn_d();
			pthread_t t;
			pthread_create(&t, NULL, leak_thread, NULL);
			pthread_join(t, NULL);
			printf("done\n");
		} else if (!strncmp(line, "young", 5)) {
			leak_e();
			printf("young done\n");
		} else if (!strncmp(line, "exit", 4)) {
			break;
		}
	}
	return 0;
}
