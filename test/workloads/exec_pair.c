// SPDX-License-Identifier: Apache-2.0
/* exec_pair, built twice without PIE (so both programs' code lies at the same addresses), once with
 * -DPAIR_B. "exec_pair_a N B": starts N children one at a time; each touches 4 new pages from
 * pair_a_touch() and then execs program B ("exec_pair_b"), which touches 4 new pages from
 * pair_b_touch(): exactly 4 faults under each function per child, at addresses the other program
 * also has code at. Prints "done N" when all have exited (0 on success). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef PAIR_B
/* code ahead of pair_b_touch: B's functions lie where A's others are */
__attribute__((noinline)) int pair_b_pad(int x)
{
	volatile int a[8];
	for (int i = 0; i < 8; i++)
		a[i] = x * i + 3;
	return a[x & 7] + a[(x + 1) & 7] * 7 + a[(x + 2) & 7] * 13;
}

__attribute__((noinline)) void pair_b_touch(volatile char *p)
{
	*p = 2;
}

int main(void)
{
	char *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	for (int i = 0; i < 4; i++)
		pair_b_touch(p + i * 4096);
	return pair_b_pad(1) < 0;
}
#else
__attribute__((noinline)) void pair_a_touch(volatile char *p)
{
	*p = 1;
}

__attribute__((noinline)) int pair_a_child(const char *b)
{
	char *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	for (int i = 0; i < 4; i++)
		pair_a_touch(p + i * 4096);
	execl(b, "exec_pair_b", (char *)NULL);
	return 127;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50, failed = 0;
	if (argc < 3)
		return 2;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(pair_a_child(argv[2]));
		if (pid < 0)
			return 1;
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	printf("done %d\n", failed);
	return failed != 0;
}
#endif
