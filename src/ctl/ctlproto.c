/* SPDX-License-Identifier: BSD-2-Clause */
#include "ctl/ctlproto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static const char *const cmd_names[] = {
    [CTL_CMD_STATUS] = "status",
    [CTL_CMD_STATS] = "stats",
    [CTL_CMD_DESTROY] = "destroy",
    [CTL_CMD_FORCE_RESET] = "force-reset",
    [CTL_CMD_FORCE_POWEROFF] = "force-poweroff",
    [CTL_CMD_POWEROFF] = "poweroff",
    [CTL_CMD_HELP] = "help",
    [CTL_CMD_CHECKPOINT] = "checkpoint",
    [CTL_CMD_SUSPEND] = "suspend",
    [CTL_CMD_MIGRATE] = "migrate",
};
_Static_assert(sizeof(cmd_names) / sizeof(cmd_names[0]) == CTL_CMD_COUNT,
	       "every control command needs a name");

const char *ctl_cmd_name(enum ctl_cmd cmd)
{
	return (unsigned)cmd < CTL_CMD_COUNT ? cmd_names[cmd] : "?";
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int ctl_parse_request_arg(const char *line, size_t len, enum ctl_cmd *cmd, long *arg, char *err,
			  size_t errlen)
{
	*arg = -1;
	if (len > CTL_REQUEST_MAX) {
		snprintf(err, errlen, "request longer than %d bytes", CTL_REQUEST_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(err, errlen, "request contains control characters");
			return -EINVAL;
		}
	}
	size_t start = 0, end = len;
	while (start < end && is_blank(line[start]))
		start++;
	while (end > start && is_blank(line[end - 1]))
		end--;
	if (start == end) {
		snprintf(err, errlen, "empty request (try 'help')");
		return -EINVAL;
	}
	size_t wend = start;
	while (wend < end && !is_blank(line[wend]))
		wend++;
	size_t wlen = wend - start;
	for (int i = 0; i < CTL_CMD_COUNT; i++) {
		if (strlen(cmd_names[i]) == wlen && memcmp(cmd_names[i], line + start, wlen) == 0) {
			if (wend != end && i == CTL_CMD_MIGRATE) {
				/* one number: the downtime target in milliseconds */
				size_t a = wend;
				while (a < end && is_blank(line[a]))
					a++;
				long v = 0;
				size_t k = a;
				for (; k < end && line[k] >= '0' && line[k] <= '9' && v <= 3600000; k++)
					v = v * 10 + (line[k] - '0');
				if (k == a || k != end || v < 1 || v > 3600000) {
					snprintf(err, errlen,
						 "'migrate' takes a downtime in milliseconds (1-3600000)");
					return -EINVAL;
				}
				*arg = v;
			} else if (wend != end) {
				snprintf(err, errlen, "'%s' takes no arguments", cmd_names[i]);
				return -EINVAL;
			}
			*cmd = (enum ctl_cmd)i;
			return 0;
		}
	}
	snprintf(err, errlen, "unknown request '%.*s' (try 'help')", (int)(wlen > 40 ? 40 : wlen),
		 line + start);
	return -EINVAL;
}

int ctl_parse_request(const char *line, size_t len, enum ctl_cmd *cmd, char *err, size_t errlen)
{
	long arg;
	int rc = ctl_parse_request_arg(line, len, cmd, &arg, err, errlen);
	if (rc == 0 && arg >= 0) {
		snprintf(err, errlen, "'%s' takes no arguments here", cmd_names[*cmd]);
		return -EINVAL;
	}
	return rc;
}

bool ctl_key_valid(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > CTL_KEY_MAX)
		return false;
	return strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
	       n;
}

int ctl_name_check(const char *name, char *err, size_t errlen)
{
	size_t n = strlen(name);
	if (n == 0) {
		snprintf(err, errlen, "the VM name is empty");
		return -EINVAL;
	}
	if (n > CTL_NAME_MAX) {
		snprintf(err, errlen, "VM name longer than %d bytes", CTL_NAME_MAX);
		return -EINVAL;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen, "'%s' cannot be a VM name", name);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c == 0x7f || c == '/') {
			snprintf(err, errlen,
				 "VM name '%s' cannot contain '/', spaces or control characters",
				 name);
			return -EINVAL;
		}
	}
	return 0;
}

const char *ctl_run_dir(void)
{
	const char *rundir = getenv("KBHYVE_RUNDIR");
	return rundir && *rundir ? rundir : CTL_DEFAULT_RUNDIR;
}

int ctl_vmm_dir(char *buf, size_t len, char *err, size_t errlen)
{
	const char *rundir = ctl_run_dir();
	int n = snprintf(buf, len, "%s/vmm", rundir);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "KBHYVE_RUNDIR is too long: %s", rundir);
		return -ENAMETOOLONG;
	}
	return 0;
}

int ctl_socket_path(const char *name, char *buf, size_t len, char *err, size_t errlen)
{
	int rc = ctl_name_check(name, err, errlen);
	if (rc)
		return rc;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	rc = ctl_vmm_dir(dir, sizeof(dir), err, errlen);
	if (rc)
		return rc;
	size_t limit = len < sizeof(dir) ? len : sizeof(dir);
	int n = snprintf(buf, len, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= limit) {
		snprintf(err, errlen, "control socket path %s/%s is longer than %zu bytes", dir,
			 name, sizeof(dir) - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Line assembly. The buffer holds a line of cap bytes plus "\r\n". */
void ctl_linebuf_init(struct ctl_linebuf *lb, size_t cap)
{
	lb->cap = cap > CTL_REPLY_LINE_MAX ? CTL_REPLY_LINE_MAX : cap;
	lb->len = 0;
	lb->discarding = false;
}

static size_t linebuf_size(const struct ctl_linebuf *lb)
{
	return lb->cap + 2;
}

char *ctl_linebuf_tail(struct ctl_linebuf *lb, size_t *room)
{
	*room = linebuf_size(lb) - lb->len;
	return lb->buf + lb->len;
}

void ctl_linebuf_commit(struct ctl_linebuf *lb, size_t n)
{
	size_t room = linebuf_size(lb) - lb->len;
	lb->len += n < room ? n : room;
}

static void linebuf_drop(struct ctl_linebuf *lb, size_t n)
{
	memmove(lb->buf, lb->buf + n, lb->len - n);
	lb->len -= n;
}

enum ctl_line_status ctl_linebuf_next(struct ctl_linebuf *lb, char *out, size_t outlen, size_t *len)
{
	for (;;) {
		char *nl = memchr(lb->buf, '\n', lb->len);
		if (!nl) {
			if (lb->discarding) {
				lb->len = 0;
			} else if (lb->len >= linebuf_size(lb)) {
				lb->len = 0;
				lb->discarding = true;
				return CTL_LINE_TOO_LONG;
			}
			return CTL_LINE_NONE;
		}
		size_t n = (size_t)(nl - lb->buf);
		if (lb->discarding) {
			/* the end of a line already reported as too long */
			linebuf_drop(lb, n + 1);
			lb->discarding = false;
			continue;
		}
		size_t l = n > 0 && lb->buf[n - 1] == '\r' ? n - 1 : n;
		if (l > lb->cap || l >= outlen) {
			linebuf_drop(lb, n + 1);
			return CTL_LINE_TOO_LONG;
		}
		memcpy(out, lb->buf, l);
		out[l] = '\0';
		*len = l;
		linebuf_drop(lb, n + 1);
		return CTL_LINE_OK;
	}
}

/* Output buffer. */
void ctl_buf_init(struct ctl_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void ctl_buf_free(struct ctl_buf *b)
{
	free(b->data);
	ctl_buf_init(b, b->max);
}

void ctl_buf_reset(struct ctl_buf *b)
{
	b->len = 0;
	b->overflow = false;
}

void ctl_buf_consume(struct ctl_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

int ctl_buf_append(struct ctl_buf *b, const char *s, size_t n)
{
	if (b->overflow || n > b->max - b->len) {
		b->overflow = true;
		return -ENOSPC;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		char *p = realloc(b->data, cap);
		if (!p) {
			b->overflow = true;
			return -ENOSPC;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	return 0;
}

static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int ctl_buf_vdata(struct ctl_buf *b, const char *key, const char *fmt, va_list ap)
{
	if (!ctl_key_valid(key))
		return -EINVAL;
	char line[CTL_REPLY_LINE_MAX + 2];
	size_t klen = strlen(key);
	memcpy(line, key, klen);
	line[klen] = ' ';
	/* the value is cut so that "KEY VALUE" fits a reply line */
	vsnprintf(line + klen + 1, CTL_REPLY_LINE_MAX - klen, fmt, ap);
	sanitize(line + klen + 1);
	size_t n = strlen(line);
	line[n++] = '\n';
	return ctl_buf_append(b, line, n);
}

int ctl_buf_data(struct ctl_buf *b, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = ctl_buf_vdata(b, key, fmt, ap);
	va_end(ap);
	return rc;
}

int ctl_buf_error(struct ctl_buf *b, const char *fmt, ...)
{
	char line[CTL_REPLY_LINE_MAX + 2] = "error: ";
	size_t p = strlen(line);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + p, CTL_REPLY_LINE_MAX + 1 - p, fmt, ap);
	va_end(ap);
	sanitize(line + p);
	size_t n = strlen(line);
	line[n++] = '\n';
	return ctl_buf_append(b, line, n);
}

int ctl_buf_ok(struct ctl_buf *b)
{
	return ctl_buf_append(b, "ok\n", 3);
}

int ctl_buf_greeting(struct ctl_buf *b)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s %d\n", CTL_PROTO_NAME, CTL_PROTO_VERSION);
	return ctl_buf_append(b, line, (size_t)n);
}

int ctl_parse_greeting(const char *line, int *version)
{
	size_t p = strlen(CTL_PROTO_NAME);
	if (strncmp(line, CTL_PROTO_NAME, p) != 0 || line[p] != ' ')
		return -EPROTO;
	const char *v = line + p + 1;
	if (*v < '0' || *v > '9')
		return -EPROTO;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	/* later versions may add words after the number */
	if (errno || n < 1 || n > 1000000 || (*end != '\0' && *end != ' '))
		return -EPROTO;
	*version = (int)n;
	return 0;
}

int ctl_reply_kind(const char *line, const char **msg)
{
	if (strcmp(line, "ok") == 0)
		return 1;
	if (strncmp(line, "error: ", 7) == 0) {
		*msg = line + 7;
		return -1;
	}
	if (strcmp(line, "error:") == 0) {
		*msg = "";
		return -1;
	}
	return 0;
}
