// SPDX-License-Identifier: Apache-2.0
/* memscope-inject: loads memscope's sampler into a running process (memleak -p --sample-bytes).
 *
 *   memscope-inject PID DLOPEN_ADDR SHIM_PATH BEGIN_OFFSET MEAN_BYTES TRACER_PID
 *
 * One thread of the target is stopped with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT; the others
 * keep running, so a lock another thread holds is released as usual and cannot deadlock the
 * call) at a point where it cannot be inside the allocator or the dynamic loader: executing
 * outside libc and ld.so, or blocked in a system call that no malloc or dlopen makes (read,
 * poll, nanosleep...). That thread is made to call dlopen(SHIM_PATH) and then the shim's
 * memscope_attach_begin(MEAN_BYTES, TRACER_PID) (at BEGIN_OFFSET in the shim), each returning to
 * address 0, whose fault stops it again; then its registers (general, x87/SSE/AVX) are put back
 * and it is let go. An interrupted system call restarts as after any signal.
 *
 * Redirecting the allocator calls (the GOT slots) is memscope's job, after this returns: this
 * helper only loads and starts the shim. It prints one line: "ok BEGIN_RESULT PAUSE_US TID STOP_US
 * DLOPEN_US START_US" (the pause and its parts: stopping the thread, dlopen, starting) or
 * "error: REASON" (exit status 1). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/syscall.h>

static int target;
/* the thread whose priority is raised for the pause, and its own (put back on every way out) */
static int boosted_tid;
static int boosted_prio;

static void unboost(void)
{
	if (boosted_tid)
		setpriority(PRIO_PROCESS, boosted_tid, boosted_prio);
	boosted_tid = 0;
}

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;
	unboost();
	va_start(ap, fmt);
	printf("error: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* ---- where a thread must not be stopped for the call: libc's and ld.so's code ---- */
struct range {
	uint64_t lo, hi;
	int is_libc;
};
static struct range unsafe[16];
static int nunsafe;

static void read_unsafe_ranges(void)
{
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%d/maps", target);
	FILE *f = fopen(path, "r");
	if (!f)
		fail("cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) && nunsafe < 16) {
		unsigned long lo, hi;
		char perms[8];
		int off = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &off) < 3 || perms[2] != 'x')
			continue;
		const char *file = line + off;
		const char *base = strrchr(file, '/');
		base = base ? base + 1 : file;
		int libc = !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5);
		if (libc || !strncmp(base, "ld-linux", 8) || !strncmp(base, "ld-2.", 5))
			unsafe[nunsafe++] = (struct range){ lo, hi, libc };
	}
	fclose(f);
}

/* System calls no malloc, free or dlopen makes: a thread blocked in one holds none of their locks. */
static int quiet_syscall(long nr)
{
	switch (nr) {
	case SYS_read: case SYS_write: case SYS_readv: case SYS_writev: case SYS_pread64: case SYS_pwrite64:
	case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6: case SYS_epoll_wait: case SYS_epoll_pwait:
	case SYS_epoll_pwait2: case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_pause: case SYS_accept:
	case SYS_accept4: case SYS_recvfrom: case SYS_recvmsg: case SYS_sendto: case SYS_sendmsg: case SYS_wait4:
	case SYS_waitid: case SYS_rt_sigsuspend: case SYS_rt_sigtimedwait: case SYS_connect:
		return 1;
	}
	return 0;
}

static int safe_point(const struct user_regs_struct *r)
{
	for (int i = 0; i < nunsafe; i++)
		if (r->rip >= unsafe[i].lo && r->rip < unsafe[i].hi)
			return unsafe[i].is_libc && (long)r->orig_rax >= 0 && quiet_syscall((long)r->orig_rax);
	return 1;
}

/* ---- ptrace plumbing ---- */
static int wait_stop(int tid, int *sig)
{
	int status;
	for (;;) {
		if (waitpid(tid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return -1;
		if (WIFSTOPPED(status)) {
			*sig = WSTOPSIG(status);
			/* an event stop (PTRACE_INTERRUPT, group stop) carries an event in the high bits */
			if (status >> 16)
				*sig = 0;
			return 0;
		}
	}
}

struct saved {
	struct user_regs_struct regs;
	unsigned char xstate[16384];
	struct iovec xio;
};

static void save(int tid, struct saved *s)
{
	if (ptrace(PTRACE_GETREGS, tid, 0, &s->regs) < 0)
		fail("PTRACE_GETREGS: %s", strerror(errno));
	s->xio.iov_base = s->xstate;
	s->xio.iov_len = sizeof(s->xstate);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &s->xio) < 0)
		fail("PTRACE_GETREGSET NT_X86_XSTATE: %s", strerror(errno));
}

static int restore(int tid, struct saved *s)
{
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &s->xio) < 0)
		return -1;
	return ptrace(PTRACE_SETREGS, tid, 0, &s->regs);
}

static int memfd = -1;

static void poke(uint64_t addr, const void *buf, size_t len)
{
	if (pwrite(memfd, buf, len, (off_t)addr) != (ssize_t)len)
		fail("cannot write the target's stack at %#lx: %s", (unsigned long)addr, strerror(errno));
}

/* A signal that came while the thread ran our call: delivered once its registers are back. */
static int pending_signal;

/* Calls fn(a0, a1) in the stopped thread `tid`, on its own stack below the red zone, with a
 * string copied there when given (its address then replaces a0). Returns %rax. */
static uint64_t remote_call(int tid, const struct saved *s, uint64_t fn, uint64_t a0, uint64_t a1, const char *str)
{
	struct user_regs_struct r = s->regs;
	uint64_t sp = (s->regs.rsp - 128 - 256) & ~15ULL; /* past the red zone, and some */
	if (str) {
		size_t len = strlen(str) + 1;
		sp = (sp - len) & ~15ULL;
		poke(sp, str, len);
		a0 = sp;
	}
	sp -= 16;
	uint64_t zero = 0;
	sp -= 8; /* at entry %rsp + 8 is 16-byte aligned, as after a call */
	poke(sp, &zero, 8);
	r.rsp = sp;
	r.rip = fn;
	r.rdi = a0;
	r.rsi = a1;
	r.rax = 0;
	r.orig_rax = (uint64_t)-1; /* not in a system call: no restart of an interrupted one now */
	if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0)
		fail("PTRACE_SETREGS: %s", strerror(errno));
	int sig = 0;
	for (;;) {
		if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
			fail("PTRACE_CONT: %s", strerror(errno));
		if (wait_stop(tid, &sig) < 0)
			fail("the target exited during the call");
		if (sig == SIGSEGV || sig == SIGBUS) {
			if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
				fail("PTRACE_GETREGS: %s", strerror(errno));
			if (r.rip == 0)
				return r.rax;
			fail("the target faulted during the call (at %#llx)", r.rip);
		}
		if (sig)
			pending_signal = sig; /* held back: the thread runs our call on a borrowed stack */
	}
}

/* Stops the threads of the target one at a time until one is at a safe point; returns its tid,
 * stopped and seized (the others are let go). */
static int stop_a_thread_safely(double *t_stopped)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", target);
	for (int attempt = 0; attempt < 4000; attempt++) {
		DIR *d = opendir(path);
		if (!d)
			fail("PID %d has exited", target);
		struct dirent *e;
		while ((e = readdir(d))) {
			int tid = atoi(e->d_name);
			if (tid <= 0)
				continue;
			if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
				if (errno == EPERM)
					fail("ptrace is not permitted on PID %d (%s)", target, strerror(errno));
				continue; /* the thread exited */
			}
			double t0 = now_us();
			/* the thread enters its stop, and runs our two calls between stops, only when it gets a
			 * CPU: on a busy machine each wake-up waits (a 287 ms pause was seen at load 12-16, 0.5-75
			 * ms at load 14 here). It runs at the highest priority until it is let go, and gets its
			 * own back then (fail() puts it back too) */
			errno = 0;
			int prio = getpriority(PRIO_PROCESS, tid);
			if (!(prio == -1 && errno) && setpriority(PRIO_PROCESS, tid, -20) == 0) {
				boosted_tid = tid;
				boosted_prio = prio;
			}
			int sig = 0;
			if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 || wait_stop(tid, &sig) < 0) {
				unboost();
				continue;
			}
			struct user_regs_struct r;
			if (!sig && ptrace(PTRACE_GETREGS, tid, 0, &r) == 0 && safe_point(&r)) {
				closedir(d);
				*t_stopped = t0;
				return tid;
			}
			/* a signal stop is for a signal to the thread: let it go on with it */
			unboost();
			ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig);
		}
		closedir(d);
		usleep(attempt < 100 ? 200 : 2000);
	}
	fail("no thread of PID %d came to a point outside the allocator and the dynamic loader", target);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Ctrl-C on memscope's terminal reaches this helper too: dying in the middle of a call would
	 * leave the target's thread with borrowed registers, so it finishes (it takes milliseconds) */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	/* the target's thread waits for this process between its stops: on a busy machine, the sooner
	 * this runs the shorter the pause (best effort) */
	setpriority(PRIO_PROCESS, 0, -20);
	if (argc != 7)
		fail("usage: memscope-inject PID DLOPEN_ADDR SHIM_PATH BEGIN_OFFSET MEAN_BYTES TRACER_PID");
	target = atoi(argv[1]);
	uint64_t dlopen_addr = strtoull(argv[2], NULL, 0);
	const char *shim = argv[3];
	uint64_t begin_off = strtoull(argv[4], NULL, 0);
	uint64_t mean = strtoull(argv[5], NULL, 0);
	uint64_t tracer = strtoull(argv[6], NULL, 0);

	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", target);
	memfd = open(path, O_RDWR | O_CLOEXEC);
	if (memfd < 0)
		fail("cannot open %s: %s", path, strerror(errno));
	read_unsafe_ranges();

	double t0;
	int tid = stop_a_thread_safely(&t0);
	double t_stop = now_us();
	static struct saved s;
	save(tid, &s);
	uint64_t handle = remote_call(tid, &s, dlopen_addr, 0, RTLD_NOW, shim);
	double t_dlopen = now_us();
	long begun = 0;
	if (handle) {
		/* the shim's base: the mapping of its first page (dlopen has just mapped it) */
		char line[4096];
		uint64_t base = 0;
		snprintf(path, sizeof(path), "/proc/%d/maps", target);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			unsigned long lo, off;
			int n = 0;
			if (sscanf(line, "%lx-%*x %*s %lx %*s %*s %n", &lo, &off, &n) >= 2 && n && off == 0) {
				char *nl = strchr(line + n, '\n');
				if (nl)
					*nl = 0;
				if (!strcmp(line + n, shim)) {
					base = lo;
					break;
				}
			}
		}
		if (f)
			fclose(f);
		if (!base)
			begun = -1000;
		else {
			t_dlopen = now_us(); /* the maps read above is counted with the start */
			begun = (int)remote_call(tid, &s, base + begin_off, mean, tracer, NULL);
		}
	}
	double t_begin = now_us();
	unboost();
	if (restore(tid, &s) < 0)
		fail("cannot restore the registers of thread %d: %s", tid, strerror(errno));
	ptrace(PTRACE_DETACH, tid, 0, (void *)(long)pending_signal);
	double t1 = now_us();
	if (!handle)
		fail("dlopen of %s failed in PID %d", shim, target);
	if (begun == -1000)
		fail("the sampler was loaded but is not in /proc/%d/maps", target);
	/* the pause, then its parts: to the stop, dlopen, the maps read and memscope_attach_begin */
	printf("ok %ld %.0f %d %.0f %.0f %.0f\n", begun, t1 - t0, tid, t_stop - t0, t_dlopen - t_stop, t_begin - t_dlopen);
	return 0;
}
