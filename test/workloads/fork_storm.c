// SPDX-License-Identifier: Apache-2.0
/* fork_storm P [JOBS]: starts P processes (fork + exec of itself, so each has its own address
 * layout and its own stacks), JOBS at a time (default 4), each mapping 5 fresh pages and growing
 * the heap 3 times, writing one byte to each new page from storm_touch(): exactly 8 page faults
 * per process in storm_touch. Prints "done P" when all have exited (0 on success).
 * Child mode ("fork_storm child") uses no stdio, so the heap holds nothing of its own first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) void storm_touch(volatile char *p)
{
	*p = 1;
}

__attribute__((noinline)) int storm_child(void)
{
	for (int i = 0; i < 5; i++) {
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		storm_touch(p);
	}
	for (int i = 0; i < 3; i++) {
		char *p = sbrk(8192);
		if (p == (void *)-1)
			return 1;
		/* the first whole page of the new space: never touched before, whatever the old break */
		storm_touch((char *)(((unsigned long)p + 4095) & ~4095UL));
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return storm_child();
	int n = argc > 1 ? atoi(argv[1]) : 2000, jobs = argc > 2 ? atoi(argv[2]) : 4, running = 0, failed = 0;
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return 1;
	self[len] = 0; /* exec'd by its own name, so the children's comm is fork_storm too */
	for (int i = 0; i < n || running > 0;) {
		if (i < n && running < jobs) {
			pid_t pid = fork();
			if (pid == 0) {
				execl(self, argv[0], "child", (char *)NULL);
				_exit(127);
			}
			if (pid < 0)
				return 1;
			running++;
			i++;
			continue;
		}
		int st;
		if (wait(&st) > 0) {
			running--;
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				failed++;
		}
	}
	printf("done %d\n", failed);
	return failed != 0;
}
