// SPDX-License-Identifier: Apache-2.0
/* memleak_busy: an allocator already busy when memscope attaches (issue 10.1).
 * The main thread loops malloc(16 + i % 512) / free without pause, and every 97th block is kept by
 * keep_block() instead of freed. It prints "running" at once. A reader thread takes commands:
 *   "mark"  the blocks kept so far are freed (by the loop, at its next turn), and counting starts
 *           afresh: from then on only what keep_block keeps is outstanding
 *           (before "mark", the kept blocks are freed whenever 1000 wait)
 *   "stop"  the loop ends (also by itself once 200,000 blocks are kept after "mark"); it prints "kept BYTES COUNT" (what keep_block kept since "mark") and
 *           waits for end of input or "exit".
 * So whatever the moment memscope attached, if "mark" comes after it, the outstanding blocks of
 * keep_block are exactly BYTES in COUNT. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEPT 200000
#define BEFORE_MARK 1000

static void *kept[MAX_KEPT];
static size_t nkept, kept_bytes;
static volatile int mark_asked, stop_asked;

__attribute__((noinline)) void keep_block(size_t size)
{
	void *p = malloc(size);
	memset(p, 7, size);
	kept[nkept++] = p;
	kept_bytes += size;
}

static void forget_kept(void)
{
	for (size_t i = 0; i < nkept; i++)
		free(kept[i]);
	nkept = 0;
	kept_bytes = 0;
}

static void *reader(void *arg)
{
	(void)arg;
	char line[64];
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "mark", 4))
			mark_asked = 1;
		else if (!strncmp(line, "stop", 4)) {
			stop_asked = 1;
			break;
		}
	}
	stop_asked = 1;
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	pthread_t t;
	pthread_create(&t, NULL, reader, NULL);
	printf("running\n");
	for (unsigned long i = 0; !stop_asked; i++) {
		if (mark_asked == 1) {
			forget_kept();
			mark_asked = 2;
			printf("marked\n");
		}
		size_t size = 16 + i % 512;
		if (i % 97 == 0) {
			/* before "mark", at most BEFORE_MARK blocks are kept at once; after it, the loop
			 * ends by itself when the table is full */
			if (nkept == (mark_asked ? MAX_KEPT : BEFORE_MARK)) {
				if (mark_asked)
					break;
				forget_kept();
			}
			keep_block(size);
			continue;
		}
		void *p = malloc(size);
		memset(p, 1, size);
		free(p);
	}
	pthread_join(t, NULL);
	printf("kept %zu %zu\n", kept_bytes, nkept);
	if (getenv("MEMLEAK_BUSY_DUMP"))
		for (size_t i = 0; i < nkept; i++)
			fprintf(stderr, "%lx\n", (unsigned long)kept[i]);
	char line[64];
	while (fgets(line, sizeof(line), stdin) && strncmp(line, "exit", 4))
		;
	return 0;
}
