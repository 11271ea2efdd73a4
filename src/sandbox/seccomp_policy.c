/* SPDX-License-Identifier: BSD-2-Clause */
/* The system calls each kind of thread may make, as seccomp-bpf filters built with libseccomp.
 * The process-wide filter (every role's calls) goes on every thread at once; a thread that starts
 * later says its role (core/threadrole.h) and stacks its own, narrower filter on top. A call
 * outside the list traps: the SIGSYS handler writes one line naming the call and the role, then
 * the process dies of SIGSYS as with SECCOMP_RET_KILL_PROCESS. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "core/log.h"
#include "core/threadrole.h"
#include "sandbox/sandbox.h"

/* Every role: memory without new executable pages, locks, time, signals to the process's own
 * threads, writes (logs, eventfds), the block backend's data calls, thread exit. */
static const char *const base_calls[] = {
    "brk",	   "munmap",	 "mremap",	   "madvise",	     "futex",
    "sched_yield", "nanosleep",	 "clock_nanosleep", "clock_gettime",   "clock_getres",
    "gettimeofday", "rt_sigprocmask", "rt_sigreturn", "restart_syscall", "gettid",
    "getpid",	   "exit",	 "exit_group",	   "rseq",	     "set_robust_list",
    "write",	   "pread64",	 "pwrite64",	   "preadv",	     "pwritev",
    "preadv2",	   "pwritev2",	 "fsync",	   "fdatasync",	     "fallocate",
    "sched_getaffinity", "sysinfo",
};

/* vCPU threads and the event loop: device models' host side on descriptors opened at setup. */
static const char *const device_calls[] = {
    "read",	    "readv",	   "writev",	 "close",	    "fstat",
    "newfstatat",   "lseek",	   "fcntl",	 "io_uring_enter", "epoll_ctl",
    "timerfd_create", "timerfd_settime", "timerfd_gettime", "eventfd2", "sendto",
    "recvfrom",	    "sendmsg",	   "recvmsg",	 "shutdown",	    "getrandom",
};

/* The event loop only: waiting, accepting viewers and control clients, starting threads,
 * removing its sockets and a console's pty link at exit (checking first that they are still its
 * own: lstat, readlink). */
static const char *const main_calls[] = {
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "accept",	 "accept4",
    "setsockopt", "getsockopt",	 "getsockname",	 "getpeername", "sched_setaffinity",
    "unlink",	  "unlinkat",	 "readlink",	 "readlinkat",	 "dup",
    "dup3",	  "pipe2",	 "poll",	 "ppoll",	 "ftruncate",
};

#ifdef __SANITIZE_ADDRESS__
/* The ASan/UBSan build (make SAN=1, the tests' build) only: the sanitizer runtime's own calls
 * (alternate signal stacks, reading /proc/self/maps and starting a symbolizer for a report);
 * LeakSanitizer is off once the sandbox is entered (sandbox.c). The release build has none. */
#define SANITIZER_BUILD 1
static const char *const sanitizer_calls[] = {
    "sigaltstack", "clone",	"ptrace",   "wait4",	  "waitid",   "getdents64", "openat",
    "open",	   "prctl",	"getppid",  "sched_getaffinity", "readlink", "readlinkat",
    "getrlimit",   "prlimit64", "setrlimit", "kill",	  "tgkill",   "tkill",	    "uname",
};
#else
#define SANITIZER_BUILD 0
#endif

/* ioctls on the KVM, tap, terminal and block descriptors opened at setup */
static const unsigned long device_ioctls[] = {
    KVM_RUN,	       KVM_IRQ_LINE,	     KVM_IRQ_LINE_STATUS, KVM_SIGNAL_MSI,
    KVM_SET_USER_MEMORY_REGION, KVM_GET_DIRTY_LOG, KVM_IRQFD,	  KVM_IOEVENTFD,
    KVM_SET_GSI_ROUTING, KVM_GET_REGS,	     KVM_SET_REGS,	  KVM_GET_SREGS,
    KVM_SET_SREGS,     KVM_GET_MP_STATE,     KVM_SET_MP_STATE,	  KVM_CHECK_EXTENSION,
    KVM_NMI,	       TUNSETOFFLOAD,	     TUNSETVNETHDRSZ,	  FIONREAD,
    TCGETS,	       TCSETS,		     TCSETSW,		  TCSETSF,
    BLKDISCARD,
    /* a checkpoint reads KVM's state of the VM and its vCPUs (bhyvectl --checkpoint) */
    KVM_GET_PIT2,      KVM_GET_CLOCK,	     KVM_GET_IRQCHIP,	  KVM_GET_XSAVE,
    KVM_GET_XSAVE2,    KVM_GET_XCRS,	     KVM_GET_DEBUGREGS,	  KVM_GET_LAPIC,
    KVM_GET_MSRS,      KVM_GET_VCPU_EVENTS,  KVM_GET_TSC_KHZ,
};
static const unsigned long block_io_ioctls[] = {BLKDISCARD};

#define SYSNAME_MAX 512
static const char *sys_names[SYSNAME_MAX];
static __thread enum thread_role current_role; /* THREAD_ROLE_MAIN until a thread says */
static char prog_prefix[64];

struct role_filter {
	struct sock_fprog prog;
	bool ready;
};
static struct role_filter role_filters[THREAD_ROLE_BLOCK_IO + 1];

/* ---- the trap ---- */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_uint(char *buf, size_t at, size_t cap, unsigned long v)
{
	char digits[24];
	size_t n = 0;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && at + 1 < cap)
		buf[at++] = digits[--n];
	return at;
}

/* Async-signal-safe: formats by hand, then dies of the same signal (SA_RESETHAND restored the
 * default action, SA_NODEFER left it unblocked). */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char line[256];
	size_t n = 0;
	n = put_str(line, n, sizeof(line), prog_prefix);
	n = put_str(line, n, sizeof(line), "sandbox: the ");
	n = put_str(line, n, sizeof(line), thread_role_name(current_role));
	n = put_str(line, n, sizeof(line), " thread made a forbidden system call: ");
	int nr = si->si_syscall;
	const char *name = nr >= 0 && nr < SYSNAME_MAX ? sys_names[nr] : NULL;
	n = put_str(line, n, sizeof(line), name ? name : "unknown");
	n = put_str(line, n, sizeof(line), " (");
	n = put_uint(line, n, sizeof(line), (unsigned long)(unsigned)nr);
	n = put_str(line, n, sizeof(line), "); stopping\n");
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
	syscall(SYS_exit_group, 4);
}

static int install_trap(char *err, size_t errlen)
{
	for (int i = 0; i < SYSNAME_MAX; i++) {
		if (!sys_names[i])
			sys_names[i] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i);
	}
	snprintf(prog_prefix, sizeof(prog_prefix), "%s: ", kb_log_prog());
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		int e = errno;
		snprintf(err, errlen, "sandbox: cannot catch SIGSYS: %s", strerror(e));
		return -e;
	}
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	return 0;
}

/* ---- building ---- */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* libseccomp's SCMP_A* macros leave a member to the compiler: spelled out for -Wextra */
static struct scmp_arg_cmp arg_cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a,
				   scmp_datum_t b)
{
	return (struct scmp_arg_cmp){.arg = arg, .op = op, .datum_a = a, .datum_b = b};
}

static int allow_names(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown to this libseccomp: nothing can call it by that name */
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int allow_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* the request is an unsigned int in the kernel: compare the low 32 bits */
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					  arg_cmp(1, SCMP_CMP_MASKED_EQ, 0xffffffffULL, reqs[i] & 0xffffffffUL));
		if (rc < 0)
			return rc;
	}
	return 0;
}


/* Calls every role shares, with their argument checks. */
static int add_base(scmp_filter_ctx ctx)
{
	int rc = allow_names(ctx, base_calls, NELEM(base_calls));
	/* no new executable memory: code cannot be injected as pages and run */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				      arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				      arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* signals only to this process's threads (vCPU kicks) */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				      arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
	/* files are all open: an open fails quietly (glibc probes /sys lazily), Landlock stands
	 * behind it for the paths io_uring could reach */
	if (!rc && !SANITIZER_BUILD)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
	if (!rc && !SANITIZER_BUILD)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
	return rc;
}

static int add_role(scmp_filter_ctx ctx, enum thread_role role)
{
	int rc = add_base(ctx);
#if SANITIZER_BUILD
	if (!rc)
		rc = allow_names(ctx, sanitizer_calls, NELEM(sanitizer_calls));
#endif
	if (rc)
		return rc;
	if (role == THREAD_ROLE_BLOCK_IO)
		return allow_ioctls(ctx, block_io_ioctls, NELEM(block_io_ioctls));
	rc = allow_names(ctx, device_calls, NELEM(device_calls));
	if (!rc)
		rc = allow_ioctls(ctx, device_ioctls, NELEM(device_ioctls));
	/* signal handlers may change (glibc sets its own up with the first thread, a console
	 * restores the terminal on a fatal signal), except the one that reports this filter */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 1,
				      arg_cmp(0, SCMP_CMP_NE, SIGSYS, 0));
	/* threads only, not processes: the event loop starts vCPUs, and a block device's first
	 * request, on whichever thread (an AHCI or NVMe doorbell is a vCPU's), starts its workers.
	 * clone3's flags sit behind a pointer the filter cannot read, so it fails and glibc falls
	 * back to clone */
	if (!rc && !SANITIZER_BUILD)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      arg_cmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* a new thread names itself and stacks its role's filter */
	if (!rc && !SANITIZER_BUILD)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				      arg_cmp(0, SCMP_CMP_EQ, PR_SET_NAME, 0));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 1,
				      arg_cmp(0, SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER, 0));
	if (rc || role == THREAD_ROLE_VCPU)
		return rc;

	rc = allow_names(ctx, main_calls, NELEM(main_calls));
	/* no new sockets: a local one (a tap's flags at exit) fails, any other family stops */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
				      arg_cmp(0, SCMP_CMP_EQ, AF_UNIX, 0));
	return rc;
}

static scmp_filter_ctx build(enum thread_role role, int *rc)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		*rc = -ENOMEM;
		return NULL;
	}
	*rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (!*rc)
		*rc = add_role(ctx, role);
	if (*rc) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

/* A role's filter as BPF, so that a starting thread installs it with one system call. */
static int export_role(enum thread_role role, char *err, size_t errlen)
{
	int rc;
	scmp_filter_ctx ctx = build(role, &rc);
	if (!ctx) {
		snprintf(err, errlen, "sandbox: cannot build the %s filter: %s",
			 thread_role_name(role), strerror(-rc));
		return rc;
	}
	int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	struct stat st;
	rc = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (!rc && fstat(fd, &st) < 0)
		rc = -errno;
	void *buf = NULL;
	if (!rc && (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
		    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS))
		rc = -E2BIG;
	if (!rc && !(buf = malloc((size_t)st.st_size)))
		rc = -ENOMEM;
	if (!rc && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		rc = -EIO;
	if (fd >= 0)
		close(fd);
	if (rc) {
		free(buf);
		snprintf(err, errlen, "sandbox: cannot export the %s filter: %s",
			 thread_role_name(role), strerror(-rc));
		return rc;
	}
	role_filters[role].prog.filter = buf;
	role_filters[role].prog.len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	role_filters[role].ready = true;
	return 0;
}

/* The thread-role hook: runs first in each new thread, under the process-wide filter. */
static void enter_role(enum thread_role role)
{
	current_role = role;
	if (role == THREAD_ROLE_MAIN || role > THREAD_ROLE_BLOCK_IO || !role_filters[role].ready)
		return; /* the process-wide filter is the main role's */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &role_filters[role].prog) < 0) {
		char line[160];
		int n = snprintf(line, sizeof(line), "%ssandbox: cannot confine a %s thread: %s\n",
				 prog_prefix, thread_role_name(role), strerror(errno));
		ssize_t w = write(STDERR_FILENO, line, (size_t)n);
		(void)w;
		syscall(SYS_exit_group, 4); /* fail closed */
	}
}

int sandbox_seccomp(char *err, size_t errlen)
{
	int rc = install_trap(err, errlen);
	for (int r = THREAD_ROLE_VCPU; !rc && r <= THREAD_ROLE_BLOCK_IO; r++)
		rc = export_role((enum thread_role)r, err, errlen);
	if (rc)
		return rc;
	scmp_filter_ctx ctx = build(THREAD_ROLE_MAIN, &rc);
	if (ctx)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (ctx && !rc)
		rc = seccomp_load(ctx);
	if (ctx)
		seccomp_release(ctx);
	if (rc) {
		snprintf(err, errlen, "sandbox: cannot install the seccomp filter: %s",
			 strerror(-rc));
		return rc;
	}
	current_role = THREAD_ROLE_MAIN;
	thread_role_set_hook(enter_role);
	return 0;
}
