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

/* The attach state, one 64-bit word so that it changes in one compare-and-swap: the low 32 bits
 * are the descriptor memscope reads (memscope_sampler_desc.attach_pidfd points at them: x86-64 is
 * little-endian): -1 never attached (preloaded by -c, or not started); >= 0 the pidfd of the
 * attached memscope; -2 that memscope has gone, sampling is off. The high 32 bits count attaches,
 * so a thread that polled an old pidfd cannot turn off a newer attach that got the same number. */
static int64_t attach_state = 0xffffffff; /* attach 0, descriptor -1 */
#define STATE(attach, fd) ((int64_t)((uint64_t)(uint32_t)(attach) << 32 | (uint32_t)(int)(fd)))
#define STATE_FD(w) ((int)(uint32_t)(w))
#define STATE_ATTACH(w) ((uint32_t)((uint64_t)(w) >> 32))
/* CLOCK_MONOTONIC_COARSE of the last poll, ns */
static int64_t lifeline_polled;
#define LIFELINE_POLL_NS (20 * 1000 * 1000)
/* one memscope_attach_begin at a time (two memscopes may stop two threads at once) */
static int begin_busy;

static void attach_off(void)
{
	for (int i = 0; i < SITES; i++)
		__atomic_store_n(&site_countdown[i], COUNTDOWN_OFF, __ATOMIC_RELAXED);
}

static int sampling_gone(void)
{
	return STATE_FD(__atomic_load_n(&attach_state, __ATOMIC_ACQUIRE)) == -2;
}

/* Ends an attach whose memscope has gone: whoever changes the word closes the descriptor, once. */
static void attach_end(int64_t w, int invalid)
{
	if (__atomic_compare_exchange_n(&attach_state, &w, STATE(STATE_ATTACH(w), -2), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		if (!invalid)
			close(STATE_FD(w));
		attach_off();
	}
}

static int attach_stopped(void)
{
	int64_t w = __atomic_load_n(&attach_state, __ATOMIC_ACQUIRE);
	int fd = STATE_FD(w);
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
		attach_end(w, p.revents & POLLNVAL);
	}
	/* a new attach may have begun meanwhile: its countdowns are live, sample on */
	if (!sampling_gone())
		return 0;
	attach_off(); /* again for a site a racing thread gave a live countdown after the first time */
	return 1;
}

/* Starts (or restarts, after an earlier memscope has gone) sampling 1 per `mean` bytes for the
 * memscope process `tracer`. Returns 0, or -EBUSY while another memscope is attached, or -errno.
 * It runs on a thread memscope stopped anywhere, maybe inside the sampler holding its lock: it
 * takes no lock it could wait on. */
EXPORT int memscope_attach_begin(size_t mean, int tracer)
{
	if (__atomic_exchange_n(&begin_busy, 1, __ATOMIC_ACQUIRE))
		return -EBUSY;
	int ret = 0;
	int64_t w = __atomic_load_n(&attach_state, __ATOMIC_ACQUIRE);
	if (STATE_FD(w) >= 0) {
		struct pollfd p = { .fd = STATE_FD(w), .events = POLLIN };
		if (poll(&p, 1, 0) == 0) {
			ret = -EBUSY;
			goto out;
		}
		attach_end(w, p.revents & POLLNVAL);
		w = __atomic_load_n(&attach_state, __ATOMIC_ACQUIRE);
	}
	int nfd = (int)syscall(SYS_pidfd_open, tracer, 0);
	if (nfd < 0) {
		ret = -errno;
		/* off, not "never attached": a later memscope must redirect the slots, not take the
		 * sampler for a preloaded one */
		__atomic_store_n(&attach_state, STATE(STATE_ATTACH(w), -2), __ATOMIC_RELEASE);
		goto out;
	}
	if (mean && mean <= MEAN_INTERVAL_MAX)
		mean_interval = mean;
	__atomic_store_n(&lifeline_polled, 0, __ATOMIC_RELAXED);
	/* the state first, then the countdowns: a thread that meets a reset countdown finds the
	 * sampler on, and one that still stores "off" afterwards is corrected at that site's next
	 * allocation (sample_slow) */
	__atomic_store_n(&attach_state, STATE(STATE_ATTACH(w) + 1, nfd), __ATOMIC_RELEASE);
	for (int i = 0; i < SITES; i++)
		__atomic_store_n(&site_countdown[i], 0, __ATOMIC_RELAXED);
out:
	__atomic_store_n(&begin_busy, 0, __ATOMIC_RELEASE);
	return ret;
}
