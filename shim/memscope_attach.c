// SPDX-License-Identifier: Apache-2.0
/* The attach path of the sampler (memleak -p PID --sample-bytes N), included at the end of
 * memscope_sampler.c. memscope-inject has the target dlopen this library and call
 * memscope_attach_begin(); memscope then points the allocator slots of the process's modules
 * (GOT) at the wrappers. Blocks allocated before that were never seen by the wrappers: their
 * frees find no sampled address and go straight to glibc, as every unsampled free does.
 *
 * The lifeline: a pidfd of the memscope process. A sample polls it when the last poll is 20 ms
 * old or more (the coarse clock is read from the vDSO, without a system call: on a program that
 * allocates fast, such as Python's, a poll on each sample cost about as much as the sample's own
 * trap); once memscope is gone, even killed with SIGKILL so it could not put the slots back,
 * sampling stops at the next sample after that: every countdown is set beyond reach, and the
 * wrappers only forward to glibc. Until then samples only call hooks nobody probes. */
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

/* -1: never attached (preloaded by -c, or not started); >= 0: the pidfd of the attached
 * memscope; -2: that memscope has gone, sampling is off */
static int attach_pidfd = -1;
/* CLOCK_MONOTONIC_COARSE of the last poll, ns */
static int64_t lifeline_polled;
#define LIFELINE_POLL_NS (20 * 1000 * 1000)

static void attach_off(void)
{
	for (int i = 0; i < SITES; i++)
		__atomic_store_n(&site_countdown[i], INT64_MAX / 2, __ATOMIC_RELAXED);
}

static int attach_stopped(void)
{
	int fd = __atomic_load_n(&attach_pidfd, __ATOMIC_RELAXED);
	if (__builtin_expect(fd == -1, 1))
		return 0;
	if (fd >= 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		if (now - __atomic_load_n(&lifeline_polled, __ATOMIC_RELAXED) < LIFELINE_POLL_NS)
			return 0;
		__atomic_store_n(&lifeline_polled, now, __ATOMIC_RELAXED);
		__atomic_add_fetch(&counters.lifeline_polls, 1, __ATOMIC_RELAXED);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 0) == 0)
			return 0;
		/* readable (memscope exited) or invalid (the program closed our descriptor): stop */
		if (__atomic_compare_exchange_n(&attach_pidfd, &fd, -2, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED) && !(p.revents & POLLNVAL))
			close(fd);
	}
	attach_off(); /* again when a racing thread stored a small countdown after the first time */
	return 1;
}

/* Starts (or restarts, after an earlier memscope has gone) sampling 1 per `mean` bytes for the
 * memscope process `tracer`. Returns 0, or -EBUSY while another memscope is attached, or -errno. */
EXPORT int memscope_attach_begin(size_t mean, int tracer)
{
	int fd = __atomic_load_n(&attach_pidfd, __ATOMIC_RELAXED);
	if (fd >= 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 0) == 0)
			return -EBUSY;
		if (!(p.revents & POLLNVAL))
			close(fd);
	}
	int nfd = (int)syscall(SYS_pidfd_open, tracer, 0);
	if (nfd < 0) {
		__atomic_store_n(&attach_pidfd, -2, __ATOMIC_RELAXED);
		return -errno;
	}
	if (mean)
		mean_interval = mean;
	for (int i = 0; i < SITES; i++)
		__atomic_store_n(&site_countdown[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&lifeline_polled, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&attach_pidfd, nfd, __ATOMIC_RELEASE);
	return 0;
}
