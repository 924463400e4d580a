// SPDX-License-Identifier: Apache-2.0
/* memleak_exec: a process that execs another program (issue 10.2).
 * Prints "ready". On a line "go": old_image_leak keeps 5 x malloc(777), prints "leaked". On a line
 * "exec": execs argv[1] (with the rest of argv) in the same process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *kept[5];

__attribute__((noinline)) void old_image_leak(void)
{
	for (int i = 0; i < 5; i++)
		kept[i] = malloc(777);
}

int main(int argc, char **argv)
{
	char line[64];
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "go", 2)) {
			old_image_leak();
			printf("leaked\n");
		} else if (!strncmp(line, "exec", 4) && argc > 1) {
			execv(argv[1], argv + 1);
			perror("execv");
			return 1;
		}
	}
	return 0;
}
