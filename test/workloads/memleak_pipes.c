// SPDX-License-Identifier: Apache-2.0
/* memleak_pipes N: after a line "go", creates N pipes and keeps them open, prints "done", and
 * exits (closing them) on the next line or end of input. Each pipe() allocates its
 * pipe_inode_info and its buffer array in alloc_pipe_info(), in this process's context. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/resource.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	char line[16];
	struct rlimit rl = { 4 * n + 64, 4 * n + 64 };
	setrlimit(RLIMIT_NOFILE, &rl);
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < n; i++) {
		int fds[2];
		if (pipe(fds)) {
			perror("pipe");
			return 1;
		}
	}
	printf("done\n");
	fgets(line, sizeof(line), stdin);
	return 0;
}
