/* SPDX-License-Identifier: BSD-2-Clause */
/* The VM control protocol (bhyvectl <-> bhyve): socket location, line framing, requests.
 *
 * A unix stream socket per running VM at ${KBHYVE_RUNDIR:-/run/kbhyve}/vmm/NAME. Text lines
 * ending in "\n" (a "\r" before it is ignored):
 *   server, on connect:   "kbhyve-ctl 1"                 (protocol name and version)
 *   client:               one request per line           (at most CTL_REQUEST_MAX bytes)
 *   server, per request:  zero or more "KEY VALUE" lines, then "ok" or "error: MESSAGE"
 * KEY is [A-Za-z0-9_.-]+, so a data line never reads as "ok" or "error: ...". Requests are
 * answered in order, one reply each. */
#ifndef KB_CTLPROTO_H
#define KB_CTLPROTO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define CTL_PROTO_NAME "kbhyve-ctl"
#define CTL_PROTO_VERSION 1
#define CTL_DEFAULT_RUNDIR "/run/kbhyve"
#define CTL_REQUEST_MAX 256	   /* bytes in a request line, newline excluded */
#define CTL_REPLY_LINE_MAX 1024	   /* bytes in a reply line, newline excluded */
#define CTL_REPLY_MAX (256 * 1024) /* bytes in a whole reply */
#define CTL_KEY_MAX 64		   /* bytes in a KEY */
#define CTL_NAME_MAX 229	   /* a VM name, as FreeBSD's /dev/vmm/NAME allows */
#define CTL_MAX_FDS 3		   /* descriptors passed with one request */

enum ctl_cmd {
	CTL_CMD_STATUS,		/* name, pid, uptime_ms, cpus, memory */
	CTL_CMD_STATS,		/* VM-wide and per-vCPU counters, then device counters */
	CTL_CMD_DESTROY,	/* bhyve exits 4 */
	CTL_CMD_FORCE_RESET,	/* bhyve exits 0 */
	CTL_CMD_FORCE_POWEROFF, /* bhyve exits 1 */
	CTL_CMD_POWEROFF,	/* ACPI power button */
	CTL_CMD_HELP,		/* "commands NAME NAME..." */
	/* Save the VM into the three files whose descriptors come with the request (SCM_RIGHTS,
	 * in this order: FILE, FILE.kern, FILE.meta, open for writing; the sandboxed VMM opens
	 * nothing itself). Answered when the files are complete: mem_bytes, kern_bytes,
	 * pause_ms, total_ms. checkpoint: the guest runs on; suspend: bhyve then exits 5. */
	CTL_CMD_CHECKPOINT,
	CTL_CMD_SUSPEND,
	/* "migrate [DOWNTIME_MS]": send the VM live over the connected stream socket that comes
	 * with the request (SCM_RIGHTS) to a bhyve -R. Answered when it ends: rounds, mem_bytes,
	 * final_bytes, pause_ms, total_ms; then bhyve exits 5. On error the guest runs on. */
	CTL_CMD_MIGRATE,
	CTL_CMD_COUNT
};

const char *ctl_cmd_name(enum ctl_cmd cmd);

/* Parse one request line of `len` bytes (no newline). 0 with *cmd set, or -EINVAL with the
 * message for the "error: " reply in err. */
int ctl_parse_request(const char *line, size_t len, enum ctl_cmd *cmd, char *err, size_t errlen);
/* The same for requests that take an argument (migrate's downtime): *arg is its number, or -1
 * when none was given. */
int ctl_parse_request_arg(const char *line, size_t len, enum ctl_cmd *cmd, long *arg, char *err,
			  size_t errlen);

/* A KEY of a data line: 1 to CTL_KEY_MAX bytes of [A-Za-z0-9_.-]. */
bool ctl_key_valid(const char *key);

/* A VM name usable as the socket's file name: 1 to CTL_NAME_MAX printable bytes, no '/',
 * no spaces, not "." or "..". 0 or -EINVAL with a message in err. */
int ctl_name_check(const char *name, char *err, size_t errlen);

/* ${KBHYVE_RUNDIR:-/run/kbhyve}: the folder of kbhyve's run-time files. */
const char *ctl_run_dir(void);
/* ${KBHYVE_RUNDIR:-/run/kbhyve}/vmm, and the socket path of VM `name` inside it.
 * 0, or -ENAMETOOLONG / -EINVAL with a message in err. */
int ctl_vmm_dir(char *buf, size_t len, char *err, size_t errlen);
int ctl_socket_path(const char *name, char *buf, size_t len, char *err, size_t errlen);

/* Assembles lines from a byte stream: read() into ctl_linebuf_tail(), ctl_linebuf_commit() the
 * bytes, then take lines with ctl_linebuf_next(). Lines longer than the buffer's cap are
 * reported once (CTL_LINE_TOO_LONG) and skipped up to their newline. */
struct ctl_linebuf {
	size_t cap;	 /* longest line accepted, newline excluded */
	size_t len;	 /* bytes held */
	bool discarding; /* inside an over-long line: drop bytes up to the next newline */
	char buf[CTL_REPLY_LINE_MAX + 2]; /* a line, "\r\n" */
};

enum ctl_line_status {
	CTL_LINE_NONE,	   /* no complete line yet: read more */
	CTL_LINE_OK,	   /* a line was copied out */
	CTL_LINE_TOO_LONG, /* a line exceeded cap; its remainder will be skipped */
};

/* cap is clamped to CTL_REPLY_LINE_MAX. */
void ctl_linebuf_init(struct ctl_linebuf *lb, size_t cap);
/* Where to read the next bytes, and how many fit (always > 0 after ctl_linebuf_next() has
 * returned CTL_LINE_NONE). */
char *ctl_linebuf_tail(struct ctl_linebuf *lb, size_t *room);
void ctl_linebuf_commit(struct ctl_linebuf *lb, size_t n);
/* The next line without its "\n" or "\r\n", NUL-terminated in out (outlen > cap), its length
 * in *len (it may itself contain NUL bytes). */
enum ctl_line_status ctl_linebuf_next(struct ctl_linebuf *lb, char *out, size_t outlen,
				      size_t *len);

/* A growing output buffer with a hard limit; once a write does not fit, `overflow` is set and
 * the contents are left as they were before that write. */
struct ctl_buf {
	char *data;
	size_t len, cap, max;
	bool overflow;
};

void ctl_buf_init(struct ctl_buf *b, size_t max);
void ctl_buf_free(struct ctl_buf *b);
void ctl_buf_reset(struct ctl_buf *b);
/* Drop the first n bytes (sent). */
void ctl_buf_consume(struct ctl_buf *b, size_t n);
int ctl_buf_append(struct ctl_buf *b, const char *s, size_t n);
/* "KEY VALUE\n": the key must be ctl_key_valid(); control characters in the value become '?'
 * and it is cut to fit CTL_REPLY_LINE_MAX. 0, -EINVAL for a bad key, -ENOSPC on overflow. */
int ctl_buf_data(struct ctl_buf *b, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ctl_buf_vdata(struct ctl_buf *b, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* "error: MESSAGE\n" (control characters become '?'). */
int ctl_buf_error(struct ctl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ctl_buf_ok(struct ctl_buf *b);

/* The server's first line: "kbhyve-ctl VERSION". Writes it into b / parses it (0 with *version
 * set, -EPROTO when the line is not a greeting). */
int ctl_buf_greeting(struct ctl_buf *b);
int ctl_parse_greeting(const char *line, int *version);

/* Classify a reply line: 1 for "ok", -1 for "error: ..." (*msg points at the message), 0 for
 * a data line. */
int ctl_reply_kind(const char *line, const char **msg);

#endif
