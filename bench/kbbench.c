/* SPDX-License-Identifier: BSD-2-Clause */
/* kbbench: the guest side (and the L1 side) of kbhyve's device benchmarks. Built with
 * gcc -static so that it runs in the busybox L2 initrd; the same binary serves the host side.
 * Every time is CLOCK_MONOTONIC; every number printed is one that was measured; any short
 * transfer, error or mismatch ends the program with status 1 and a "KBB error=" line.
 *
 *   kbbench disk DEV SEQ_MB SEQ_MAX_S RAND_S [MARK_ADDR MARK_PORT]
 *       virtio-blk in the guest, O_DIRECT, one request at a time (iodepth 1):
 *       1. sequential write of 1 MiB blocks from offset 0, up to SEQ_MB MiB or SEQ_MAX_S
 *          seconds, whichever comes first, then fdatasync (inside the timing);
 *       2. the page cache is dropped (/proc/sys/vm/drop_caches, when allowed), then a
 *          sequential read of the same range in 1 MiB blocks; every 4 KiB page must carry
 *          the stamp that 1 wrote into it (see make_table);
 *       3. 4 KiB reads at random 4 KiB-aligned offsets over the whole device for RAND_S s.
 *       Prints "KBB seq_write_mbs=..." and friends (MB = 10^6 bytes). With MARK_ADDR/PORT,
 *       asks a "kbbench serve" before and after each phase to snapshot the VM's KVM exit
 *       counters (a diagnostic; "KBB mark_error=" when that fails, the metrics stand).
 *   kbbench client ADDR PORT MB
 *       TCP to a "kbbench serve": sends MB MiB (guest -> host), then receives MB MiB
 *       (host -> guest); each side checks the byte pattern. Prints the guest's own timing
 *       ("KBB net_g2h_guest_mbs=..."); the metric is the server's (host clock). MB 0: no
 *       transfer, the server is told to quit.
 *   kbbench mark ADDR PORT LABEL
 *       one KVM-counter snapshot by the server, labelled LABEL.
 *   kbbench serve PORT TIMEOUT_S
 *       the host side: accepts one connection at a time on PORT (all addresses) and answers
 *       marks and transfers; prints one JSON object a line per event, timed on this side:
 *         {"event":"g2h","bytes":N,"secs":S,"mbs":X,"kvm_before":{...},"kvm_after":{...}}
 *       g2h: from the header to the last byte; h2g: from the header to the client's count.
 *       "kvm" objects are /sys/kernel/debug/kvm/PID-FD/ counters when exactly one VM exists,
 *       with the CPU time of that VMM process from /proc/PID/stat (vmm_*_ticks) and the
 *       number of io_uring instances it holds (vmm_io_uring_fds).
 *       Exits 0 after one transfer each way (or a quit), 1 on a protocol error or after
 *       TIMEOUT_S.
 *
 * Wire format (client -> server): 'M' LABEL '\n' -> server answers 'k';
 * 'S' COUNT(8 bytes, big endian) DATA -> server answers COUNT received (8 bytes);
 * 'R' COUNT -> server sends DATA, client answers COUNT received (8 bytes);
 * 'Q' -> server answers 'k' and exits. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
#define SEQ_BLOCK MIB
#define RAND_BLOCK 4096u
#define ALIGN 4096u
#define NET_CHUNK (64u * 1024u)
#define LABEL_MAX 64

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("KBB error=");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		fail("clock_gettime: %s", strerror(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The data of both benchmarks costs (almost) no CPU inside the timed loops, which matters in
 * the nested test bed, where L2 code runs at emulation speed:
 *   network: byte i of a stream is table[i % PERIOD], sent straight from the table and
 *            checked with memcmp;
 *   disk:    each 4 KiB page of a 1 MiB block starts with its own byte offset on the disk
 *            (8 bytes, then the table): the reader checks those stamps, which proves that
 *            every page came back from where it was written. */
#define PERIOD (64u * 1024u)
static uint8_t table[2 * PERIOD];

static void make_table(void)
{
	for (uint32_t i = 0; i < 2 * PERIOD; i++) {
		uint32_t j = i % PERIOD;
		table[i] = (uint8_t)(j * 7u + (j >> 8) * 13u + 1u);
	}
}

/* Offset of the first byte that differs from the stream pattern, or -1. */
static long long check(const uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t done = 0; done < len;) {
		size_t n = len - done < PERIOD ? len - done : PERIOD;
		const uint8_t *want = table + (off + done) % PERIOD;
		if (memcmp(buf + done, want, n) != 0) {
			for (size_t i = 0; i < n; i++)
				if (buf[done + i] != want[i])
					return (long long)(off + done + i);
		}
		done += n;
	}
	return -1;
}

static void stamp_block(uint8_t *buf, uint64_t off)
{
	for (size_t p = 0; p < SEQ_BLOCK; p += RAND_BLOCK) {
		uint64_t v = off + p;
		memcpy(buf + p, &v, sizeof(v));
	}
}

/* Disk offset of the first page whose stamp is wrong, or -1. */
static long long check_block(const uint8_t *buf, uint64_t off)
{
	for (size_t p = 0; p < SEQ_BLOCK; p += RAND_BLOCK) {
		uint64_t v;
		memcpy(&v, buf + p, sizeof(v));
		if (v != off + p)
			return (long long)(off + p);
	}
	return -1;
}

static unsigned long parse_num(const char *s, const char *what, unsigned long min,
			       unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		fail("bad %s '%s' (%lu..%lu)", what, s, min, max);
	return v;
}

/* --- network helpers ------------------------------------------------------------------- */

static void write_all(int fd, const void *p, size_t len, const char *what)
{
	const uint8_t *b = p;

	while (len) {
		ssize_t n = write(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("%s: write: %s", what, n < 0 ? strerror(errno) : "wrote nothing");
		b += n;
		len -= (size_t)n;
	}
}

/* Reads exactly len bytes; false at end of stream before the first byte when eof_ok. */
static bool read_all(int fd, void *p, size_t len, const char *what, bool eof_ok)
{
	uint8_t *b = p;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, b + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("%s: read: %s", what, strerror(errno));
		if (n == 0) {
			if (eof_ok && got == 0)
				return false;
			fail("%s: connection closed after %zu of %zu bytes", what, got, len);
		}
		got += (size_t)n;
	}
	return true;
}

static void put_be64(uint8_t *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static int connect_to(const char *addr, unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd, one = 1;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		fail("bad IPv4 address '%s'", addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Sends len pattern bytes (offsets 0..len-1). */
static void send_pattern(int fd, uint64_t len, const char *what)
{
	for (uint64_t off = 0; off < len;) {
		size_t n = len - off < PERIOD ? (size_t)(len - off) : PERIOD;
		write_all(fd, table + off % PERIOD, n, what);
		off += n;
	}
}

/* Receives len pattern bytes and checks them. */
static void recv_pattern(int fd, uint64_t len, const char *what)
{
	static uint8_t buf[NET_CHUNK];

	for (uint64_t off = 0; off < len;) {
		size_t want = len - off < NET_CHUNK ? (size_t)(len - off) : NET_CHUNK;
		ssize_t n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("%s: read: %s", what, strerror(errno));
		if (n == 0)
			fail("%s: connection closed after %" PRIu64 " of %" PRIu64 " bytes", what,
			     off, len);
		long long bad = check(buf, (size_t)n, off);
		if (bad >= 0)
			fail("%s: byte %lld differs from the pattern", what, bad);
		off += (uint64_t)n;
	}
}

/* --- disk -------------------------------------------------------------------------------- */

static int mark_port;
static const char *mark_addr;

/* Asks the server for a KVM-counter snapshot; a failure is reported, not fatal. */
static void mark(const char *label)
{
	char msg[LABEL_MAX + 3];
	uint8_t ack;
	int fd, n;

	if (!mark_addr)
		return;
	fd = connect_to(mark_addr, (unsigned)mark_port);
	if (fd < 0) {
		printf("KBB mark_error=%s: connect: %s\n", label, strerror(errno));
		return;
	}
	n = snprintf(msg, sizeof(msg), "M%s\n", label);
	write_all(fd, msg, (size_t)n, "mark");
	if (read(fd, &ack, 1) != 1 || ack != 'k')
		printf("KBB mark_error=%s: no answer\n", label);
	close(fd);
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);

	sync();
	if (fd < 0 || write(fd, "3\n", 2) != 2)
		printf("KBB drop_caches=failed (%s)\n", strerror(errno));
	else
		printf("KBB drop_caches=ok\n");
	if (fd >= 0)
		close(fd);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int cmd_disk(int argc, char **argv)
{
	const char *dev;
	unsigned long seq_mb, seq_max_s, rand_s;
	uint64_t size, done, ops, blocks, seed = 0x9e3779b97f4a7c15ull;
	struct stat st;
	uint8_t *buf;
	double t0, t1;
	int fd;

	if (argc != 6 && argc != 8)
		fail("usage: kbbench disk DEV SEQ_MB SEQ_MAX_S RAND_S [MARK_ADDR MARK_PORT]");
	dev = argv[2];
	seq_mb = parse_num(argv[3], "SEQ_MB", 1, 1u << 20);
	seq_max_s = parse_num(argv[4], "SEQ_MAX_S", 1, 3600);
	rand_s = parse_num(argv[5], "RAND_S", 1, 3600);
	if (argc == 8) {
		mark_addr = argv[6];
		mark_port = (int)parse_num(argv[7], "MARK_PORT", 1, 65535);
	}
	fd = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		fail("open %s with O_DIRECT: %s", dev, strerror(errno));
	if (fstat(fd, &st) != 0)
		fail("fstat %s: %s", dev, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) != 0)
			fail("BLKGETSIZE64 %s: %s", dev, strerror(errno));
	} else {
		size = (uint64_t)st.st_size;
	}
	if (size < (uint64_t)seq_mb * MIB)
		fail("%s has %" PRIu64 " bytes, less than SEQ_MB=%lu MiB", dev, size, seq_mb);
	if (posix_memalign((void **)&buf, ALIGN, SEQ_BLOCK) != 0)
		fail("out of memory");
	for (size_t p = 0; p < SEQ_BLOCK; p += PERIOD)
		memcpy(buf + p, table, PERIOD);
	printf("KBB disk_bytes=%" PRIu64 "\n", size);

	/* 1. sequential write, 1 MiB blocks, then fdatasync */
	mark("seq_write-start");
	t0 = now_s();
	for (done = 0; done < seq_mb && (done == 0 || now_s() - t0 < (double)seq_max_s); done++) {
		uint64_t off = done * SEQ_BLOCK;
		stamp_block(buf, off);
		ssize_t n = pwrite(fd, buf, SEQ_BLOCK, (off_t)off);
		if (n != (ssize_t)SEQ_BLOCK)
			fail("pwrite %s at %" PRIu64 ": %s", dev, off,
			     n < 0 ? strerror(errno) : "short write");
	}
	if (fdatasync(fd) != 0)
		fail("fdatasync %s: %s", dev, strerror(errno));
	t1 = now_s();
	mark("seq_write-end");
	printf("KBB seq_write_bytes=%" PRIu64 "\nKBB seq_write_secs=%.6f\nKBB seq_write_mbs=%.3f\n",
	       done * SEQ_BLOCK, t1 - t0, (double)(done * SEQ_BLOCK) / (t1 - t0) / 1e6);
	fflush(stdout);

	/* 2. sequential read of what was written, after dropping the page cache */
	drop_caches();
	blocks = done;
	mark("seq_read-start");
	t0 = now_s();
	for (done = 0; done < blocks; done++) {
		uint64_t off = done * SEQ_BLOCK;
		ssize_t n = pread(fd, buf, SEQ_BLOCK, (off_t)off);
		if (n != (ssize_t)SEQ_BLOCK)
			fail("pread %s at %" PRIu64 ": %s", dev, off,
			     n < 0 ? strerror(errno) : "short read");
		long long bad = check_block(buf, off);
		if (bad >= 0)
			fail("sequential read: the 4 KiB page at %lld is not what was written",
			     bad);
	}
	t1 = now_s();
	mark("seq_read-end");
	printf("KBB seq_read_bytes=%" PRIu64 "\nKBB seq_read_secs=%.6f\nKBB seq_read_mbs=%.3f\n",
	       blocks * SEQ_BLOCK, t1 - t0, (double)(blocks * SEQ_BLOCK) / (t1 - t0) / 1e6);
	fflush(stdout);

	/* 3. 4 KiB random reads over the whole device for rand_s seconds */
	drop_caches();
	mark("rand_read-start");
	t0 = now_s();
	t1 = t0;
	for (ops = 0; t1 - t0 < (double)rand_s; ops++) {
		uint64_t off = (xorshift(&seed) % (size / RAND_BLOCK)) * RAND_BLOCK;
		ssize_t n = pread(fd, buf, RAND_BLOCK, (off_t)off);
		if (n != (ssize_t)RAND_BLOCK)
			fail("pread %s at %" PRIu64 ": %s", dev, off,
			     n < 0 ? strerror(errno) : "short read");
		t1 = now_s();
	}
	mark("rand_read-end");
	printf("KBB rand_read_ops=%" PRIu64 "\nKBB rand_read_secs=%.6f\nKBB rand_read_iops=%.1f\n",
	       ops, t1 - t0, (double)ops / (t1 - t0));
	free(buf);
	close(fd);
	return 0;
}

/* --- network ----------------------------------------------------------------------------- */

static int cmd_client(int argc, char **argv)
{
	uint8_t hdr[9], cnt[8];
	unsigned long port, mb;
	uint64_t len;
	double t0, t1;
	int fd;

	if (argc != 5)
		fail("usage: kbbench client ADDR PORT MB");
	port = parse_num(argv[3], "PORT", 1, 65535);
	mb = parse_num(argv[4], "MB", 0, 1u << 16);
	len = (uint64_t)mb * MIB;
	if (mb == 0) { /* no transfer: tell the server that we are done */
		fd = connect_to(argv[2], (unsigned)port);
		if (fd < 0)
			fail("connect %s:%lu: %s", argv[2], port, strerror(errno));
		write_all(fd, "Q", 1, "quit");
		read_all(fd, cnt, 1, "quit answer", false);
		close(fd);
		return 0;
	}

	/* guest -> host */
	fd = connect_to(argv[2], (unsigned)port);
	if (fd < 0)
		fail("connect %s:%lu: %s", argv[2], port, strerror(errno));
	hdr[0] = 'S';
	put_be64(hdr + 1, len);
	t0 = now_s();
	write_all(fd, hdr, sizeof(hdr), "g2h");
	send_pattern(fd, len, "g2h");
	read_all(fd, cnt, sizeof(cnt), "g2h count", false);
	t1 = now_s();
	close(fd);
	if (get_be64(cnt) != len)
		fail("g2h: the server received %" PRIu64 " of %" PRIu64 " bytes", get_be64(cnt),
		     len);
	printf("KBB net_g2h_bytes=%" PRIu64 "\nKBB net_g2h_guest_secs=%.6f\n"
	       "KBB net_g2h_guest_mbs=%.4f\n",
	       len, t1 - t0, (double)len / (t1 - t0) / 1e6);
	fflush(stdout);

	/* host -> guest */
	fd = connect_to(argv[2], (unsigned)port);
	if (fd < 0)
		fail("connect %s:%lu: %s", argv[2], port, strerror(errno));
	hdr[0] = 'R';
	t0 = now_s();
	write_all(fd, hdr, sizeof(hdr), "h2g");
	recv_pattern(fd, len, "h2g");
	put_be64(cnt, len);
	write_all(fd, cnt, sizeof(cnt), "h2g count");
	t1 = now_s();
	close(fd);
	printf("KBB net_h2g_bytes=%" PRIu64 "\nKBB net_h2g_guest_secs=%.6f\n"
	       "KBB net_h2g_guest_mbs=%.4f\n",
	       len, t1 - t0, (double)len / (t1 - t0) / 1e6);
	return 0;
}

static int cmd_mark(int argc, char **argv)
{
	if (argc != 5)
		fail("usage: kbbench mark ADDR PORT LABEL");
	mark_addr = argv[2];
	mark_port = (int)parse_num(argv[3], "PORT", 1, 65535);
	mark(argv[4]);
	return 0;
}

/* utime, stime and guest_time (fields 14, 15, 43 of /proc/PID/stat, in clock ticks) of a
 * process, all its threads together. */
static bool proc_cpu(unsigned pid, unsigned long long *ut, unsigned long long *st,
		     unsigned long long *gt)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	/* after ')': state(3) ppid pgrp session tty_nr tpgid(8) flags minflt cminflt majflt
	 * cmajflt(13) utime stime(15) cutime cstime priority nice num_threads itrealvalue(21)
	 * starttime vsize rss(24) rsslim ... (25-37) exit_signal processor(39) rt_priority
	 * policy delayacct_blkio_ticks(42) guest_time(43) */
	return p && sscanf(p + 1,
			   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
			   "%*d %*d %*u %*u %*d %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u "
			   "%*u %*d %*d %*u %*u %*u %llu",
			   ut, st, gt) == 3;
}

/* How many of a process's file descriptors link to target; -1 when they cannot be read. */
static int count_fds(unsigned pid, const char *target)
{
	char dir[64], path[340], link[128];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%u/fd", pid);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		if (!strcmp(link, target))
			n++;
	}
	closedir(d);
	return n;
}

/* KVM's statistics of the one VM on this machine, as a JSON object ("null" when there is
 * not exactly one VM in /sys/kernel/debug/kvm). */
static void kvm_json(char *out, size_t cap)
{
	static const char *const names[] = {
	    "exits",	    "io_exits",		"mmio_exits",	  "halt_exits",
	    "irq_exits",    "irq_window_exits", "halt_wakeup",	  "insn_emulation",
	    "signal_exits", "irq_injections",	"nmi_injections", "request_irq_exits"};
	char dir[300] = "", path[400], val[64];
	struct dirent *e;
	size_t used;
	unsigned vmm_pid = 0;
	int vms = 0;
	DIR *d = opendir("/sys/kernel/debug/kvm");

	if (d) {
		while ((e = readdir(d))) {
			unsigned a, b;
			char tail;
			if (sscanf(e->d_name, "%u-%u%c", &a, &b, &tail) == 2) {
				vms++;
				vmm_pid = a;
				snprintf(dir, sizeof(dir), "/sys/kernel/debug/kvm/%s", e->d_name);
			}
		}
		closedir(d);
	}
	if (vms != 1) {
		snprintf(out, cap, "null");
		return;
	}
	used = (size_t)snprintf(out, cap, "{");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && used < cap; i++) {
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, val, sizeof(val) - 1);
		close(fd);
		if (n <= 0)
			continue;
		val[n] = 0;
		used += (size_t)snprintf(out + used, cap - used, "%s\"%s\":%llu",
					 used > 1 ? "," : "", names[i], strtoull(val, NULL, 10));
	}
	/* the VMM's CPU time (all threads): utime and stime include the time its vCPU
	 * threads ran the guest; guest_time is that part */
	unsigned long long ut, stm, gt;
	if (proc_cpu(vmm_pid, &ut, &stm, &gt) && used < cap)
		used += (size_t)snprintf(out + used, cap - used,
					 ",\"vmm_utime_ticks\":%llu,\"vmm_stime_ticks\":%llu,"
					 "\"vmm_guest_ticks\":%llu,\"ticks_per_s\":%ld",
					 ut, stm, gt, sysconf(_SC_CLK_TCK));
	/* io_uring instances the VMM holds (its block engine: kbhyve's blockif, QEMU aio=io_uring)
	 */
	int rings = count_fds(vmm_pid, "anon_inode:[io_uring]");
	if (rings >= 0 && used < cap)
		used += (size_t)snprintf(out + used, cap - used, ",\"vmm_io_uring_fds\":%d", rings);
	if (used < cap)
		snprintf(out + used, cap - used, "}");
}

static int cmd_serve(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	char before[1024], after[1024];
	unsigned long port, timeout_s;
	bool got_g2h = false, got_h2g = false;
	double deadline;
	int lfd, one = 1;

	if (argc != 4)
		fail("usage: kbbench serve PORT TIMEOUT_S");
	port = parse_num(argv[2], "PORT", 1, 65535);
	timeout_s = parse_num(argv[3], "TIMEOUT_S", 1, 86400);
	deadline = now_s() + (double)timeout_s;
	sa.sin_port = htons((uint16_t)port);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		fail("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 4) != 0)
		fail("bind/listen on port %lu: %s", port, strerror(errno));
	printf("{\"event\":\"listening\",\"port\":%lu}\n", port);
	fflush(stdout);

	while (!got_g2h || !got_h2g) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		double left = deadline - now_s();
		uint8_t cmd, hdr[8];
		int fd, r;

		if (left <= 0)
			fail("serve: timed out after %lu s (g2h %s, h2g %s)", timeout_s,
			     got_g2h ? "done" : "missing", got_h2g ? "done" : "missing");
		r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("poll: %s", strerror(errno));
		if (r == 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			fail("accept: %s", strerror(errno));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* a client that stalls must not outlive the deadline */
		struct timeval tv = {.tv_sec = (time_t)left + 1};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (!read_all(fd, &cmd, 1, "command", true)) {
			close(fd);
			continue;
		}
		if (cmd == 'M') {
			char label[LABEL_MAX + 1];
			size_t n = 0;
			uint8_t c;

			while (read_all(fd, &c, 1, "mark label", false) && c != '\n')
				if (n < LABEL_MAX &&
				    (c == '-' || c == '_' || (c >= 'a' && c <= 'z') ||
				     (c >= '0' && c <= '9')))
					label[n++] = (char)c;
			label[n] = 0;
			kvm_json(before, sizeof(before));
			printf("{\"event\":\"mark\",\"label\":\"%s\",\"t\":%.6f,\"kvm\":%s}\n",
			       label, now_s(), before);
			fflush(stdout);
			write_all(fd, "k", 1, "mark answer");
		} else if (cmd == 'S' || cmd == 'R') {
			uint8_t cnt[8];
			uint64_t len;
			double t0, t1;

			read_all(fd, hdr, sizeof(hdr), "length", false);
			len = get_be64(hdr);
			if (len == 0 || len > (1ull << 36))
				fail("serve: bad length %" PRIu64, len);
			kvm_json(before, sizeof(before));
			t0 = now_s();
			if (cmd == 'S') {
				recv_pattern(fd, len, "g2h");
				t1 = now_s();
				put_be64(cnt, len);
				write_all(fd, cnt, sizeof(cnt), "g2h count");
			} else {
				send_pattern(fd, len, "h2g");
				read_all(fd, cnt, sizeof(cnt), "h2g count", false);
				t1 = now_s();
				if (get_be64(cnt) != len)
					fail("h2g: the client received %" PRIu64 " of %" PRIu64
					     " bytes",
					     get_be64(cnt), len);
			}
			kvm_json(after, sizeof(after));
			printf("{\"event\":\"%s\",\"bytes\":%" PRIu64 ",\"secs\":%.6f,\"mbs\":%.4f,"
			       "\"kvm_before\":%s,\"kvm_after\":%s}\n",
			       cmd == 'S' ? "g2h" : "h2g", len, t1 - t0,
			       (double)len / (t1 - t0) / 1e6, before, after);
			fflush(stdout);
			if (cmd == 'S')
				got_g2h = true;
			else
				got_h2g = true;
		} else if (cmd == 'Q') {
			printf("{\"event\":\"quit\"}\n");
			write_all(fd, "k", 1, "quit answer");
			close(fd);
			break;
		} else {
			fail("serve: unknown command byte 0x%02x", cmd);
		}
		close(fd);
	}
	close(lfd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	make_table();
	if (argc >= 2 && !strcmp(argv[1], "disk"))
		return cmd_disk(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "client"))
		return cmd_client(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "mark"))
		return cmd_mark(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return cmd_serve(argc, argv);
	fprintf(stderr, "usage: kbbench disk|client|mark|serve ... (see kbbench.c)\n");
	return 2;
}
