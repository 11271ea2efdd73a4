/* SPDX-License-Identifier: BSD-2-Clause */
#include "fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sanitizer/asan_interface.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "acpi/acpi.h"
#include "core/irqroute.h"
#include "core/machine.h"
#include "core/vm.h"
#include "pci/pci.h"

/* Guest-visible port numbers and values the workarounds below use. */
#define RTC_INDEX_PORT 0x70
#define RTC_REG_B 0x0B
#define RTC_B_24H 0x02

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s:%d: invariant violated: ", file, line);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

void fuzz_check_bus(struct iobus *bus)
{
	for (int sp = 0; sp < 2; sp++) {
		const struct iobus_range *r = bus->ranges[sp];
		int n = bus->count[sp];
		FUZZ_CHECK(n >= 0 && n <= bus->cap[sp], "space %d: %d ranges, capacity %d", sp, n,
			   bus->cap[sp]);
		for (int i = 0; i < n; i++) {
			FUZZ_CHECK(r[i].len > 0 && r[i].base + (r[i].len - 1) >= r[i].base &&
				       r[i].fn,
				   "space %d range %d (%s): base %#llx len %#llx", sp, i,
				   r[i].name ? r[i].name : "?", (unsigned long long)r[i].base,
				   (unsigned long long)r[i].len);
			if (sp == IOBUS_PIO)
				FUZZ_CHECK(r[i].base + (r[i].len - 1) <= 0xFFFF,
					   "port range %s %#llx+%#llx leaves the I/O space",
					   r[i].name ? r[i].name : "?",
					   (unsigned long long)r[i].base,
					   (unsigned long long)r[i].len);
			if (i > 0)
				FUZZ_CHECK(
				    r[i - 1].base + (r[i - 1].len - 1) < r[i].base,
				    "space %d: %s %#llx+%#llx and %s %#llx+%#llx unsorted or "
				    "overlapping",
				    sp, r[i - 1].name ? r[i - 1].name : "?",
				    (unsigned long long)r[i - 1].base,
				    (unsigned long long)r[i - 1].len, r[i].name ? r[i].name : "?",
				    (unsigned long long)r[i].base, (unsigned long long)r[i].len);
		}
	}
}

/* ---- host files ---- */

void fuzz_memfile_open(struct fuzz_memfile *f, const char *name)
{
	f->fd = memfd_create(name, MFD_CLOEXEC);
	FUZZ_CHECK(f->fd >= 0, "memfd_create: %s", strerror(errno));
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

void fuzz_memfile_set(struct fuzz_memfile *f, const void *data, size_t len)
{
	FUZZ_CHECK(ftruncate(f->fd, 0) == 0, "ftruncate: %s", strerror(errno));
	FUZZ_CHECK(len == 0 || pwrite(f->fd, data, len, 0) == (ssize_t)len, "pwrite: %s",
		   strerror(errno));
}

/* ---- temporary directory ---- */

static char tmpdir[64];

/* At exit: the directory and whatever sockets or images the targets left in it. */
static void remove_tmpdir(void)
{
	if (!tmpdir[0])
		return;
	DIR *d = opendir(tmpdir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
			    unlinkat(dirfd(d), e->d_name, 0) < 0)
				unlinkat(dirfd(d), e->d_name,
					 AT_REMOVEDIR); /* an empty directory */
		closedir(d);
	}
	rmdir(tmpdir);
}

const char *fuzz_tmpdir(void)
{
	if (!tmpdir[0]) {
		/* tmpfs when there is one: creating and removing socket files on each input is
		 * several times slower on a disk file system */
		const char *base = getenv("TMPDIR"), *run = getenv("FUZZ_TMPDIR");
		if (run && *run && strlen(run) <= 32 && access(run, W_OK | X_OK) == 0)
			base = run; /* run.sh's scratch directory, removed even after a crash */
		else if (access("/dev/shm", W_OK | X_OK) == 0)
			base = "/dev/shm";
		else if (!base || !*base || strlen(base) > 32)
			base = "/tmp";
		snprintf(tmpdir, sizeof(tmpdir), "%s/kbfuzz.XXXXXX", base);
		FUZZ_CHECK(mkdtemp(tmpdir), "mkdtemp %s: %s", tmpdir, strerror(errno));
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

/* ---- the VM ---- */

#define GUARD_PAGE 4096

/* mmap'd rather than calloc'd: untouched pages cost nothing, and LeakSanitizer does not scan
 * megabytes of guest RAM for pointers on each leak check. */
void *fuzz_ram_alloc(uint64_t size)
{
	FUZZ_CHECK(size % GUARD_PAGE == 0, "RAM size %#llx is not page-aligned",
		   (unsigned long long)size);
	size_t len = (size_t)size + 2 * GUARD_PAGE;
	uint8_t *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	FUZZ_CHECK(p != MAP_FAILED, "mmap %zu bytes: %s", len, strerror(errno));
	FUZZ_CHECK(mprotect(p + GUARD_PAGE, (size_t)size, PROT_READ | PROT_WRITE) == 0,
		   "mprotect: %s", strerror(errno));
	return p + GUARD_PAGE;
}

void fuzz_ram_free(void *ram, uint64_t size)
{
	munmap((uint8_t *)ram - GUARD_PAGE, (size_t)size + 2 * GUARD_PAGE);
}

/* The range registered at `base` under `name`, or NULL. */
static const struct iobus_range *find_range(struct vm *vm, enum iobus_space sp, uint64_t base,
					    const char *name)
{
	const struct iobus_range *r = vm->bus.ranges[sp];
	for (int i = 0; i < vm->bus.count[sp]; i++)
		if (r[i].base == base && r[i].name && strcmp(r[i].name, name) == 0)
			return &r[i];
	return NULL;
}

/*
 * Workarounds for platform devices that keep state in static storage from one VM to the next
 * (bhyve runs one VM per process; the fuzzers build one per input). All are reported; each
 * becomes a no-op once the device resets or frees its state itself.
 */

/* The RTC keeps its timer handle in static storage that rtc_init() does not reset, so a timer
 * left behind would be deleted from the next VM's event loop after this one freed it. Disabling
 * every RTC interrupt through the guest's own ports removes the timer now. */
static void rtc_quiesce(struct vm *vm)
{
	if (!find_range(vm, IOBUS_PIO, RTC_INDEX_PORT, "rtc"))
		return;
	fuzz_guest_access(vm, IOBUS_PIO, RTC_INDEX_PORT, 1, true, RTC_REG_B);
	fuzz_guest_access(vm, IOBUS_PIO, RTC_INDEX_PORT + 1, 1, true, RTC_B_24H);
}

struct vm *fuzz_vm_create(const char *const *assignments, uint64_t lowmem, bool platform)
{
	return fuzz_vm_create_flags(assignments, lowmem, platform, 0);
}

struct vm *fuzz_vm_create_flags(const char *const *assignments, uint64_t lowmem, bool platform,
				unsigned flags)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	FUZZ_CHECK(vm, "out of memory");
	/* No KVM: vm_irq_line() fails with EBADF, which the devices only log at debug level. */
	vm->kvm_fd = vm->vm_fd = -1;
	if (flags & FUZZ_VM_FAKE_KVM) {
		vm->vm_fd = fuzz_fake_kvm_open();
		FUZZ_CHECK(irqroute_init(vm) == 0, "irqroute_init failed on the fake KVM");
	}
	atomic_store(&vm->exit_code, -1);
	vm->topo = (struct cpu_topology){.cpus = 1, .sockets = 1, .cores = 1, .threads = 1};
	iobus_init(&vm->bus);
	vm->cfg = config_new();
	FUZZ_CHECK(vm->cfg, "out of memory");
	for (int i = 0; assignments[i]; i++)
		FUZZ_CHECK(config_set_assignment(vm->cfg, assignments[i]) == 0, "config: %s",
			   assignments[i]);
	/* vm_request_exit() stops the loop, so it must exist; only a target may run it */
	vm->ev = evloop_new();
	FUZZ_CHECK(vm->ev, "evloop_new failed");
	guestmem_init_from(&vm->mem, fuzz_ram_alloc(lowmem), lowmem, 0);
	if (platform) {
		char err[256] = "";
		int rc = machine_init_devices(vm, err, sizeof(err));
		FUZZ_CHECK(rc == 0, "platform devices: %s", err);
	}
	FUZZ_CHECK(pci_init_all(vm) == 0, "PCI devices failed to initialise (see above)");
	return vm;
}

void fuzz_vm_destroy(struct vm *vm)
{
	rtc_quiesce(vm);
	vm_run_destroy_hooks(vm);
	pci_fini_all(vm);
	irqroute_fini(vm);
	if (vm->vm_fd >= 0)
		fuzz_fake_kvm_close(vm->vm_fd);
	evloop_free(vm->ev);
	iobus_fini(&vm->bus);
	config_free(vm->cfg);
	fuzz_ram_free(vm->mem.host, vm->mem.lowmem);
	free(vm);
}

/* ---- guest accesses ---- */

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

uint64_t fuzz_guest_access(struct vm *vm, enum iobus_space sp, uint64_t addr, unsigned size,
			   bool is_write, uint64_t val)
{
	uint64_t v = is_write ? val & size_mask(size) : 0;
	if (is_write) {
		/* KVM completes a write that an ioeventfd matches in the kernel: no exit */
		int efd = fuzz_fake_kvm_ioeventfd(sp == IOBUS_PIO, addr, size);
		if (efd >= 0) {
			uint64_t one = 1;
			FUZZ_CHECK(write(efd, &one, sizeof(one)) == sizeof(one),
				   "ioeventfd write: %s", strerror(errno));
			return 0;
		}
	}
	int rc = iobus_dispatch(&vm->bus, sp, addr, size, is_write, &v);
	FUZZ_CHECK(rc == 0 || rc == -ENOENT, "iobus_dispatch returned %d", rc);
	if (is_write)
		return 0;
	if (rc == -ENOENT)
		v = ~0ULL; /* nothing decodes it: the bus floats high */
	return v & size_mask(size);
}

void fuzz_generic_op(struct vm *vm, uint8_t op, struct fuzz_input *in)
{
	static const unsigned pio_sizes[4] = {1, 2, 4, 1}, mmio_sizes[4] = {1, 2, 4, 8};
	bool is_write = op & 1;
	enum iobus_space sp = (op & 2) ? IOBUS_MMIO : IOBUS_PIO;
	unsigned size = (sp == IOBUS_MMIO ? mmio_sizes : pio_sizes)[(op >> 2) & 3];
	unsigned count = 1 + (op >> 5);
	uint64_t addr;
	if ((op & 0x10) && vm->bus.count[sp] > 0) {
		uint8_t idx = in_u8(in);
		uint16_t off = in_u16(in);
		const struct iobus_range *r = &vm->bus.ranges[sp][idx % vm->bus.count[sp]];
		addr = r->base + off % r->len;
	} else {
		addr = sp == IOBUS_PIO ? in_u16(in) : in_u64(in);
	}
	if (sp == IOBUS_MMIO)
		count = 1; /* one exit per MMIO instruction */
	uint64_t val = is_write ? in_le(in, size) : 0;
	for (unsigned i = 0; i < count; i++)
		fuzz_guest_access(vm, sp, addr, size, is_write, val);
}

/* ---- the event loop ---- */

static void pass_over(int fd, uint32_t events, void *opaque)
{
	evloop_stop(opaque, 0);
}

void fuzz_loop_pass(struct vm *vm)
{
	fuzz_evloop_pass(vm->ev);
}

void fuzz_evloop_pass(struct evloop *ev)
{
	/* A wake-up that is ready now, like every descriptor whose callback should run: they come
	 * back from the same epoll_wait, and the stop it requests ends the loop on the next one.
	 * (A stop requested up front could come first in that batch and end the pass early.) */
	int wake = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	FUZZ_CHECK(wake >= 0, "eventfd: %s", strerror(errno));
	struct evloop_handle *h = evloop_add_fd(ev, wake, EPOLLIN, pass_over, ev);
	FUZZ_CHECK(h, "evloop_add_fd failed");
	evloop_run(ev);
	evloop_del(ev, h);
	close(wake);
}

struct timed_run {
	struct evloop *ev;
	struct evloop_handle *timer;
};

static void timed_run_over(void *opaque)
{
	struct timed_run *r = opaque;
	evloop_del(r->ev, r->timer);
	evloop_stop(r->ev, 0);
}

void fuzz_loop_run_ms(struct vm *vm, unsigned ms)
{
	struct timed_run r = {vm->ev, NULL};
	r.timer = evloop_add_timer(vm->ev, ms ? ms : 1, 0, timed_run_over, &r);
	FUZZ_CHECK(r.timer, "evloop_add_timer: %s", strerror(errno));
	evloop_run(vm->ev);
	fuzz_loop_pass(vm); /* in case a stop request from the VM ended the run early */
}

/* ---- work per input ---- */

static struct {
	bool init;
	long default_wall_ms; /* the target's own default for FUZZ_MAX_WALL_MS */
	long max_ms, max_wall_ms, max_fds, max_lines;
	unsigned long lines; /* newlines written to stderr so far */
	int real_stderr;     /* fd 2, where the counted stream writes */
	struct timespec t0, cpu0;
	int fds0;
	unsigned long lines0;
} work;

static long env_long(const char *name, long dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtol(s, NULL, 10) : dflt;
}

/* stderr replaced by a stream that counts the lines passing through it (kb_log writes each
 * line with one fprintf to stderr) and writes them on to fd 2. */
static ssize_t count_write(void *cookie, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		work.lines += buf[i] == '\n';
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(work.real_stderr, buf + done, len - done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)len;
}

static void work_init(void)
{
	work.init = true;
	work.max_ms = env_long("FUZZ_MAX_MS", 1000);
	work.max_wall_ms =
	    env_long("FUZZ_MAX_WALL_MS", work.default_wall_ms ? work.default_wall_ms : 5000);
	work.max_fds = env_long("FUZZ_MAX_FDS", 64);
	work.max_lines = env_long("FUZZ_MAX_LOG_LINES", 64);
	work.real_stderr = STDERR_FILENO;
	FILE *f = fopencookie(NULL, "w", (cookie_io_functions_t){.write = count_write});
	FUZZ_CHECK(f, "fopencookie: %s", strerror(errno));
	setvbuf(f, NULL, _IONBF, 0);
	stderr = f;
}

int fuzz_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	FUZZ_CHECK(d, "/proc/self/fd: %s", strerror(errno));
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static long elapsed_ms(clockid_t clock, const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

void fuzz_work_default_wall_ms(long ms)
{
	FUZZ_CHECK(!work.init, "fuzz_work_default_wall_ms after the first input");
	work.default_wall_ms = ms;
}

void fuzz_work_begin(void)
{
	if (!work.init)
		work_init();
	work.fds0 = fuzz_open_fds();
	work.lines0 = work.lines;
	clock_gettime(CLOCK_MONOTONIC, &work.t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &work.cpu0);
}

static void check_time_and_lines(void)
{
	/* CPU time (every thread, user and system: a copy inside io_uring_submit counts) is what
	 * the input made the VMM do, whatever else the host runs; wall time catches blocking */
	long ms = elapsed_ms(CLOCK_PROCESS_CPUTIME_ID, &work.cpu0);
	FUZZ_CHECK(ms <= work.max_ms,
		   "work bound: the input took %ld ms of CPU time (FUZZ_MAX_MS=%ld)", ms,
		   work.max_ms);
	ms = elapsed_ms(CLOCK_MONOTONIC, &work.t0);
	FUZZ_CHECK(ms <= work.max_wall_ms,
		   "work bound: the input took %ld ms (FUZZ_MAX_WALL_MS=%ld)", ms,
		   work.max_wall_ms);
	unsigned long lines = work.lines - work.lines0;
	FUZZ_CHECK(lines <= (unsigned long)work.max_lines,
		   "work bound: the input wrote %lu log lines (FUZZ_MAX_LOG_LINES=%ld)", lines,
		   work.max_lines);
}

void fuzz_work_check(void)
{
	check_time_and_lines();
	int fds = fuzz_open_fds();
	FUZZ_CHECK(fds - work.fds0 <= work.max_fds,
		   "work bound: %d descriptors open, %d more than at the start (FUZZ_MAX_FDS=%ld)",
		   fds, fds - work.fds0, work.max_fds);
}

void fuzz_work_end(void)
{
	check_time_and_lines();
	int fds = fuzz_open_fds();
	FUZZ_CHECK(fds == work.fds0, "work bound: %d descriptors open after teardown, %d before",
		   fds, work.fds0);
}

void fuzz_skip(const char *why)
{
	static bool said;
	if (!said)
		fprintf(stderr, "fuzz-skip: %s\n", why);
	said = true;
}

void fuzz_cfg_write(struct vm *vm, unsigned slot, unsigned reg, unsigned size, uint32_t val)
{
	fuzz_guest_access(vm, IOBUS_PIO, 0xcf8, 4, true, 0x80000000u | (slot << 11) | (reg & 0xfc));
	fuzz_guest_access(vm, IOBUS_PIO, 0xcfc + (reg & 3), size, true, val);
}

uint32_t fuzz_cfg_read(struct vm *vm, unsigned slot, unsigned reg, unsigned size)
{
	fuzz_guest_access(vm, IOBUS_PIO, 0xcf8, 4, true, 0x80000000u | (slot << 11) | (reg & 0xfc));
	return (uint32_t)fuzz_guest_access(vm, IOBUS_PIO, 0xcfc + (reg & 3), size, false, 0);
}
