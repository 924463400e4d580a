// SPDX-License-Identifier: Apache-2.0
/* rusage-run OUT CMD [ARGS...]: runs CMD as a child and, when it ends, writes its peak RSS (KiB,
 * from wait4's rusage), CPU time (user + system, µs) and wait status to the file OUT. Signal the process group (as a terminal's
 * Ctrl-C does): CMD gets SIGINT/SIGTERM directly, and the wrapper outlives them to report. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void ignore(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: rusage-run OUT CMD [ARGS...]\n");
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ignore; /* a handler, unlike SIG_IGN, is reset to default by exec */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 127;
	}
	if (child == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(child, &status, 0, &ru) < 0)
		;
	FILE *f = fopen(argv[1], "w");
	if (f) {
		long cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
		fprintf(f, "maxrss_kb %ld\ncpu_us %ld\nstatus %d\n", ru.ru_maxrss, cpu_us, status);
		fclose(f);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
