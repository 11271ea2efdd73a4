/* SPDX-License-Identifier: BSD-2-Clause */
/* The destination of a live migration (bhyve -R): the input is the byte stream a source would
 * send, HELLO / MEM / ZERO / STATE / DONE / COMMIT frames or anything else (snapshot/migproto.h).
 * A thread writes it into one end of a socketpair and shuts that end down for writing;
 * migrate_receive_fd() reads the other end into a VM as bhyve assembles one (platform devices,
 * host bridge, LPC; 4 MiB of RAM filled with a pattern), whose registered sections are those of
 * pm, rtc, i8042, pci, pci.0.0.0 and pci.0.31.0.
 *
 * The fixture VM has no vCPUs and no CPUID table, both of which the HELLO check reads (meta_parse
 * wants 1-4096 vCPUs; vmstate_cpuid_digest hashes vm->cpuid). The target gives it one vCPU
 * structure with fd -1 (KVM_GET_TSC_KHZ then fails with EBADF: TSC frequency unknown, never
 * scaled) and a fixed one-entry CPUID table (digest in corpus/make-seeds.py), and names the VM
 * "fuzz"; both go before teardown.
 *
 * The target walks the input with a parser of its own, following the receiver's state machine;
 * where the outcome depends on the VM (a HELLO's description, the STATE image at DONE) it takes
 * the receiver's reply (OK or READY, else ERROR) from the socket. Checks:
 *   - the result: 0 exactly when a COMMIT came after READY; -EPIPE for a stream that ends early
 *     (the shut-down socket: nothing may wait for the 60 s timeout, so never -ETIMEDOUT);
 *     -EPROTO for a malformed or out-of-order frame or a range outside RAM; -ECANCELED for the
 *     source's ERROR;
 *   - every failure has a message, "migration: " and then the reason (" (after the state was
 *     loaded...)" exactly when READY was sent), printable; a refusal sends that reason back as
 *     one ERROR frame; OK, READY and ERROR come exactly where the walk expects them;
 *   - the receiver reads exactly up to the end of the frame that ended it, no further;
 *   - guest RAM equals the pattern with the accepted MEM bytes (a cut-off MEM: the bytes that
 *     came) and ZERO ranges applied in order: nothing outside what the stream named changes;
 *   - the work bounds of fixture.h (wall time catches a receiver that waits).
 * FUZZ_MIGRATE_VERBOSE=1 prints each input's result on stdout (result, bytes read, replies,
 * message): `build-fuzz/fuzz_migrate FILE...` to see what the receiver made of seeds. */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/guestmem.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "fixture.h"
#include "snapshot/migproto.h"
#include "snapshot/migrate.h"
#include "snapshot/snapfile.h"

#define RAM_SIZE (4u << 20)
#define PAGE 4096u
#define ERRLEN 512 /* a reason: the receiver's is at most 511 bytes */
#define MAX_REPLIES 8

static const char *const config[] = {
    "pci.0.0.0.device=hostbridge",
    "pci.0.31.0.device=lpc",
    NULL,
};

/* Guest RAM: one mapping kept from input to input in place of the fixture's, holding a pattern
 * that differs from page to page and within a page, never zero (faulting in and filling 4 MiB
 * for each input took most of its time). `pattern` is a copy; `expect` is what RAM must be after
 * the input; `touched` the pages the walk let the stream change, put back afterwards. */
static uint8_t *ram, *pattern, *expect;
static bool touched[RAM_SIZE / PAGE];

/* ---- the stream's two ends ---- */

struct writer {
	int fd;
	const uint8_t *data;
	size_t size;
};

/* All of the input (unless the receiver's end goes away), then end of stream. */
static void *write_input(void *opaque)
{
	struct writer *w = opaque;
	size_t at = 0;
	while (at < w->size) {
		ssize_t n = send(w->fd, w->data + at, w->size - at, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		at += (size_t)n;
	}
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct reply {
	uint16_t type;
	char text[ERRLEN]; /* ERROR's payload, NUL-terminated */
	size_t len;
};

/* The receiver's answers: whole frames, well-formed, nothing after the last. */
static int read_replies(int fd, struct reply *r)
{
	static uint8_t buf[MAX_REPLIES * (MIG_HDR + ERRLEN)];
	size_t len = 0;
	for (;;) {
		FUZZ_CHECK(len < sizeof(buf), "more than %zu bytes of replies", sizeof(buf));
		ssize_t n = recv(fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the receiver's end is closed: n == 0 once all is read */
		len += (size_t)n;
	}
	int count = 0;
	for (size_t at = 0; at < len; count++) {
		FUZZ_CHECK(count < MAX_REPLIES, "more than %d replies", MAX_REPLIES);
		FUZZ_CHECK(len - at >= MIG_HDR, "a reply cut off in its header");
		const uint8_t *h = buf + at;
		FUZZ_CHECK(memcmp(h, "KBMG", 4) == 0 && le(h + 4, 2) == 1,
			   "a reply's header is bad");
		r[count].type = (uint16_t)le(h + 6, 2);
		uint64_t plen = le(h + 8, 8);
		FUZZ_CHECK(plen <= len - at - MIG_HDR, "a reply cut off in its payload");
		FUZZ_CHECK(r[count].type == MIG_ERROR ? plen < ERRLEN : plen == 0,
			   "reply %s with %llu bytes", mig_type_name(r[count].type),
			   (unsigned long long)plen);
		memcpy(r[count].text, h + MIG_HDR, plen);
		r[count].text[plen] = '\0';
		r[count].len = plen;
		at += MIG_HDR + plen;
	}
	return count;
}

/* ---- the expected outcome ---- */

enum end {
	END_EOF,     /* the stream ended first: -EPIPE */
	END_REFUSED, /* malformed / out of order / outside RAM: -EPROTO and an ERROR reply */
	END_HELLO,   /* the description does not fit: an ERROR reply */
	END_LOAD,    /* the state does not load: an ERROR reply */
	END_ERROR,   /* the source's ERROR: -ECANCELED */
	END_COMMIT,  /* 0 */
};

struct walk {
	enum end end;
	size_t consumed; /* bytes the receiver reads */
	bool ready;	 /* READY was sent */
	int replies;	 /* of the receiver's replies, those the walk expected (OK, READY) */
};

static bool len_ok(uint16_t type, uint64_t len)
{
	switch (type) {
	case MIG_HELLO:
	case MIG_ERROR:
		return len <= (16u << 20);
	case MIG_MEM:
		return len >= 8 + PAGE && len <= 8 + (16u << 20);
	case MIG_ZERO:
		return len == 16;
	case MIG_STATE:
		return len <= SNAPFILE_KERN_MAX;
	case MIG_OK:
	case MIG_DONE:
	case MIG_READY:
	case MIG_COMMIT:
		return len == 0;
	default:
		return false;
	}
}

/* The next reply, which must be `want` or ERROR: whether it was `want`. */
static bool next_reply(const struct reply *r, int nr, struct walk *w, uint16_t want)
{
	FUZZ_CHECK(w->replies < nr, "no reply where %s or ERROR was due", mig_type_name(want));
	uint16_t t = r[w->replies].type;
	FUZZ_CHECK(t == want || t == MIG_ERROR, "reply %s where %s or ERROR was due",
		   mig_type_name(t), mig_type_name(want));
	if (t == want)
		w->replies++;
	return t == want;
}

static void touch(uint64_t off, uint64_t len)
{
	for (uint64_t pg = off / PAGE; pg < (off + len + PAGE - 1) / PAGE; pg++)
		touched[pg] = true;
}

/* Follow the stream as the receiver must, applying accepted pages to `expect`. */
static struct walk walk_stream(const uint8_t *d, size_t size, const struct reply *r, int nr)
{
	struct walk w = {END_EOF, size, false, 0};
	bool hello = false, state = false;
	size_t pos = 0;
	for (;;) {
		if (size - pos < MIG_HDR) {
			w.end = END_EOF;
			w.consumed = size;
			return w;
		}
		const uint8_t *h = d + pos;
		uint16_t type = (uint16_t)le(h + 6, 2);
		uint64_t len = le(h + 8, 8);
		size_t avail = size - pos - MIG_HDR;
		const uint8_t *p = h + MIG_HDR;
		w.consumed = pos + MIG_HDR;
		w.end = END_REFUSED;
		if (memcmp(h, "KBMG", 4) != 0 || le(h + 4, 2) != 1 || !len_ok(type, len))
			return w;
		if ((type == MIG_HELLO) == hello || (w.ready && type != MIG_COMMIT) ||
		    (!w.ready && type == MIG_COMMIT) || type == MIG_OK || type == MIG_READY)
			return w;
		switch (type) {
		case MIG_HELLO:
		case MIG_STATE:
			if (avail < len) {
				w.end = END_EOF;
				w.consumed = size;
				return w;
			}
			w.consumed += len;
			if (type == MIG_STATE) {
				state = true;
			} else if (!(hello = next_reply(r, nr, &w, MIG_OK))) {
				w.end = END_HELLO;
				return w;
			}
			break;
		case MIG_MEM:
		case MIG_ZERO: {
			size_t head = type == MIG_ZERO ? 16 : 8;
			if (avail < head) {
				w.end = END_EOF;
				w.consumed = size;
				return w;
			}
			w.consumed += head;
			uint64_t off = le(p, 8), n = type == MIG_ZERO ? le(p + 8, 8) : len - 8;
			if (off % PAGE || n % PAGE || n == 0 || off > RAM_SIZE ||
			    n > RAM_SIZE - off)
				return w; /* END_REFUSED */
			if (type == MIG_ZERO) {
				memset(expect + off, 0, n);
				touch(off, n);
				break;
			}
			size_t got = avail - head < n ? avail - head : (size_t)n;
			memcpy(expect + off, p + head, got);
			touch(off, got);
			if (got < n) {
				w.end = END_EOF;
				w.consumed = size;
				return w;
			}
			w.consumed += n;
			break;
		}
		case MIG_DONE:
			if (!state)
				return w; /* END_REFUSED: no state sent */
			if (!(w.ready = next_reply(r, nr, &w, MIG_READY))) {
				w.end = END_LOAD;
				return w;
			}
			break;
		case MIG_COMMIT:
			w.end = END_COMMIT;
			return w;
		case MIG_ERROR:
			/* the receiver reads up to 255 bytes of the reason, then stops */
			w.end = END_ERROR;
			w.consumed += len < 255 ? len : 255;
			if (w.consumed > size)
				w.consumed = size;
			return w;
		}
		pos = w.consumed;
	}
}

/* ---- the VM ---- */

static struct vcpu vcpu0 = {.fd = -1};
static struct vcpu *vcpus[1] = {&vcpu0};
static struct kvm_cpuid2 *cpuid; /* one entry: leaf 0, EAX 0xd */

static void ram_init(void)
{
	ram = fuzz_ram_alloc(RAM_SIZE);
	pattern = malloc(RAM_SIZE);
	expect = malloc(RAM_SIZE);
	cpuid = calloc(1, sizeof(*cpuid) + sizeof(cpuid->entries[0]));
	FUZZ_CHECK(pattern && expect && cpuid, "out of memory");
	for (size_t pg = 0; pg < RAM_SIZE / PAGE; pg++) {
		memset(pattern + pg * PAGE, (int)(pg * 37 + 1) & 0xff, PAGE);
		pattern[pg * PAGE + pg % PAGE] ^= 0x5a;
	}
	memcpy(ram, pattern, RAM_SIZE);
	memcpy(expect, pattern, RAM_SIZE);
	cpuid->nent = 1;
	cpuid->entries[0].eax = 0xd;
}

static void ram_restore(void)
{
	for (size_t pg = 0; pg < RAM_SIZE / PAGE; pg++) {
		if (!touched[pg])
			continue;
		memcpy(ram + pg * PAGE, pattern + pg * PAGE, PAGE);
		memcpy(expect + pg * PAGE, pattern + pg * PAGE, PAGE);
		touched[pg] = false;
	}
}

/* Printable ASCII: a reason may quote the source's bytes, and it goes to a log and a terminal. */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram)
		ram_init();
	fuzz_work_begin();
	struct vm *vm = fuzz_vm_create(config, RAM_SIZE, true);
	uint8_t *fixture_ram = vm->mem.host;
	guestmem_init_from(&vm->mem, ram, RAM_SIZE, 0);
	vm->name = "fuzz";
	vm->nvcpus = 1;
	vm->vcpus = vcpus;
	vcpu0.vm = vm;
	vm->cpuid = cpuid;

	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
		   strerror(errno));
	struct writer wr = {sv[0], data, size};
	pthread_t t;
	FUZZ_CHECK(pthread_create(&t, NULL, write_input, &wr) == 0, "pthread_create failed");
	char err[2 * ERRLEN] = ""; /* "migration: ", the reason and the note after READY */
	int rc = migrate_receive_fd(vm, sv[1], err, sizeof(err));
	/* what the receiver left unread; the writer finishes once it is taken */
	size_t left = 0;
	for (;;) {
		static uint8_t sink[65536];
		ssize_t n = read(sv[1], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		FUZZ_CHECK(n >= 0, "read: %s", strerror(errno));
		if (n == 0)
			break;
		left += (size_t)n;
	}
	pthread_join(t, NULL);
	close(sv[1]);
	struct reply replies[MAX_REPLIES];
	int nr = read_replies(sv[0], replies);
	close(sv[0]);
	if (getenv("FUZZ_MIGRATE_VERBOSE"))
		printf("rc %d, read %zu of %zu bytes, %d replies: %s\n", rc, size - left, size, nr,
		       err);

	struct walk w = walk_stream(data, size, replies, nr);
	FUZZ_CHECK(rc != -ETIMEDOUT, "the receiver waited for a closed stream: %s", err);
	FUZZ_CHECK(size - left == w.consumed, "the receiver read %zu bytes, the frames end at %zu",
		   size - left, w.consumed);
	static const int want_rc[] = {
	    [END_EOF] = -EPIPE,
	    [END_REFUSED] = -EPROTO,
	    [END_ERROR] = -ECANCELED,
	    [END_COMMIT] = 0,
	};
	if (w.end == END_HELLO || w.end == END_LOAD)
		FUZZ_CHECK(rc < 0, "refused %s with %d", w.end == END_HELLO ? "HELLO" : "DONE", rc);
	else
		FUZZ_CHECK(rc == want_rc[w.end], "returned %d (%s), the stream wants %d", rc, err,
			   want_rc[w.end]);
	if (rc == 0) {
		FUZZ_CHECK(w.end == END_COMMIT && w.ready, "0 without COMMIT after READY");
		FUZZ_CHECK(nr == w.replies, "a reply after READY");
	} else {
		FUZZ_CHECK(strncmp(err, "migration: ", 11) == 0 && err[11], "error %d: \"%s\"", rc,
			   err);
		FUZZ_CHECK(printable(err), "error with control characters: \"%s\"", err);
		static const char after[] =
		    " (after the state was loaded; the source may still run it)";
		size_t el = strlen(err), al = sizeof(after) - 1;
		bool said = el >= al && strcmp(err + el - al, after) == 0;
		FUZZ_CHECK(said == w.ready, "READY %s, error \"%s\"", w.ready ? "sent" : "not sent",
			   err);
		bool refusal = w.end == END_REFUSED || w.end == END_HELLO || w.end == END_LOAD;
		FUZZ_CHECK(nr == w.replies + refusal, "%d replies, %d expected", nr,
			   w.replies + refusal);
		if (refusal) {
			const struct reply *e = &replies[nr - 1];
			FUZZ_CHECK(e->type == MIG_ERROR && e->len > 0 && printable(e->text),
				   "refused with reply %s \"%s\"", mig_type_name(e->type), e->text);
			/* the same reason as the destination's own message */
			FUZZ_CHECK(el - (said ? al : 0) == 11 + e->len &&
				       strncmp(err + 11, e->text, e->len) == 0,
				   "told the source \"%s\", says \"%s\"", e->text, err);
		}
	}
	if (memcmp(ram, expect, RAM_SIZE) != 0)
		for (size_t pg = 0; pg < RAM_SIZE / PAGE; pg++)
			FUZZ_CHECK(memcmp(ram + pg * PAGE, expect + pg * PAGE, PAGE) == 0,
				   "guest RAM page %#zx is not what the stream made it (%s)",
				   pg * PAGE, touched[pg] ? "named" : "not named");
	ram_restore();

	fuzz_work_check();
	vm->nvcpus = 0;
	vm->vcpus = NULL;
	vm->cpuid = NULL;
	vm->name = NULL;
	guestmem_init_from(&vm->mem, fixture_ram, RAM_SIZE, 0);
	fuzz_vm_destroy(vm);
	fuzz_work_end();
	return 0;
}
