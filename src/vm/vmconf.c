/* SPDX-License-Identifier: BSD-2-Clause */
/* vm-bhyve's rc-style configuration files.
 *
 * The rules are vm-bhyve's (lib/vm-config): `#` starts a comment wherever it is, even inside
 * quotes, and the first assignment of a key wins. What is left of a line is read as the subset of
 * sh(1) that vm-bhyve's files use: one `key=value`, the value a single word made of unquoted
 * text, "double-quoted" text (\" \\ \$ \` escapes as in sh) and 'single-quoted' text. Keys may
 * hold '-' and '.' after the first character, as switch and datastore keys (ports_public-10) do.
 * A line that does not parse (an unbalanced quote, spaces around `=`...) is skipped with one
 * warning naming it, as vm-bhyve's reader shrugs such lines off: one stray quote in a grub_*
 * line must not make the whole guest unusable. No `$` expansion: values are taken literally.
 *
 * Every line is kept (raw text plus the parsed assignment), so a rewrite touches only the lines
 * vmconf_set/vmconf_unset changed, and skipped lines are written back as they were. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/vmconf.h"

struct vmconf_line {
	char *raw;	/* the line as written, without its newline */
	char *key;	/* NULL for comments and blank lines */
	char *value;
};

struct vmconf {
	struct vmconf_line *lines;
	size_t n, cap;
	char **warnings; /* one per skipped line: "NAME line N: ...; line skipped" */
	size_t nwarnings;
};

struct vmconf *vmconf_new(void)
{
	return calloc(1, sizeof(struct vmconf));
}

void vmconf_free(struct vmconf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->lines[i].raw);
		free(c->lines[i].key);
		free(c->lines[i].value);
	}
	free(c->lines);
	for (size_t i = 0; i < c->nwarnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	free(c);
}

static int add_warning(struct vmconf *c, const char *msg)
{
	char **w = realloc(c->warnings, (c->nwarnings + 1) * sizeof(*w));
	if (!w)
		return -ENOMEM;
	c->warnings = w;
	if (!(w[c->nwarnings] = strdup(msg)))
		return -ENOMEM;
	c->nwarnings++;
	return 0;
}

/* Takes ownership of raw, key and value (freed on failure). */
static int add_line(struct vmconf *c, char *raw, char *key, char *value)
{
	if (!raw || (key && !value)) {
		free(raw), free(key), free(value);
		return -ENOMEM;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct vmconf_line *l = realloc(c->lines, cap * sizeof(*l));
		if (!l) {
			free(raw), free(key), free(value);
			return -ENOMEM;
		}
		c->lines = l;
		c->cap = cap;
	}
	c->lines[c->n++] = (struct vmconf_line){ raw, key, value };
	return 0;
}

static bool key_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '.';
}

static bool key_valid(const char *k)
{
	if (!*k || !(isalpha((unsigned char)*k) || *k == '_'))
		return false;
	for (; *k; k++)
		if (!key_char(*k))
			return false;
	return true;
}

/* A growing string for the value being parsed. */
struct buf {
	char *p;
	size_t n, cap;
};

static int buf_put(struct buf *b, char ch)
{
	if (b->n + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	b->p[b->n++] = ch;
	b->p[b->n] = '\0';
	return 0;
}

/* At most max of the n characters left on the line, for messages. */
static int clip(size_t n, int max)
{
	return n < (size_t)max ? (int)n : max;
}

/* Parse one line (len bytes, no newline). Blank/comment lines give *key = NULL. On error, a message
 * without the "NAME line N: " prefix goes to msg. */
static int parse_line(const char *line, size_t len, char **key, char **value, char *msg,
		      size_t msglen)
{
	*key = *value = NULL;
	/* vm-bhyve: everything from the first '#' on is a comment, quotes or not */
	const char *hash = memchr(line, '#', len);
	if (hash)
		len = (size_t)(hash - line);
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len)
		return 0;
	size_t ks = i;
	while (i < len && key_char(line[i]))
		i++;
	size_t ke = i;
	if (ke == ks) {
		snprintf(msg, msglen, "expected key=\"value\", found '%.*s'", clip(len - ks, 40), line + ks);
		return -EINVAL;
	}
	size_t j = i;
	while (j < len && (line[j] == ' ' || line[j] == '\t'))
		j++;
	if (j < len && line[j] == '=' && j > i) {
		snprintf(msg, msglen, "space before '=' after '%.*s' (write %.*s=\"value\")",
			 (int)(ke - ks), line + ks, (int)(ke - ks), line + ks);
		return -EINVAL;
	}
	if (i == len || line[i] != '=') {
		snprintf(msg, msglen, "expected key=\"value\", found '%.*s'", clip(len - ks, 40), line + ks);
		return -EINVAL;
	}
	if (!isalpha((unsigned char)line[ks]) && line[ks] != '_') {
		snprintf(msg, msglen, "key '%.*s' does not start with a letter", (int)(ke - ks), line + ks);
		return -EINVAL;
	}
	i++; /* '=' */
	if (i < len && (line[i] == ' ' || line[i] == '\t')) {
		size_t k = i;
		while (k < len && (line[k] == ' ' || line[k] == '\t'))
			k++;
		if (k < len) {
			snprintf(msg, msglen, "space after '=' in '%.*s=' (write %.*s=\"value\")",
				 (int)(ke - ks), line + ks, (int)(ke - ks), line + ks);
			return -EINVAL;
		}
	}
	struct buf b = { 0 };
	if (buf_put(&b, 'x') < 0)
		return -ENOMEM;
	b.n = 0;
	b.p[0] = '\0';
	int r = 0;
	while (i < len && line[i] != ' ' && line[i] != '\t') {
		char ch = line[i];
		if (ch == '"') {
			size_t start = i++;
			while (i < len && line[i] != '"') {
				if (line[i] == '\\' && i + 1 < len && strchr("\"\\$`", line[i + 1]))
					i++;
				if ((r = buf_put(&b, line[i++])) < 0)
					goto fail;
			}
			if (i == len) {
				snprintf(msg, msglen, "unterminated \" in the value of '%.*s' (from '%.*s')",
					 (int)(ke - ks), line + ks, clip(len - start, 20), line + start);
				r = -EINVAL;
				goto fail;
			}
			i++;
		} else if (ch == '\'') {
			size_t start = i++;
			while (i < len && line[i] != '\'')
				if ((r = buf_put(&b, line[i++])) < 0)
					goto fail;
			if (i == len) {
				snprintf(msg, msglen, "unterminated ' in the value of '%.*s' (from '%.*s')",
					 (int)(ke - ks), line + ks, clip(len - start, 20), line + start);
				r = -EINVAL;
				goto fail;
			}
			i++;
		} else if (ch == '\\') {
			if (i + 1 == len) {
				snprintf(msg, msglen, "line continuation (\\ at the end) is not supported");
				r = -EINVAL;
				goto fail;
			}
			if ((r = buf_put(&b, line[i + 1])) < 0)
				goto fail;
			i += 2;
		} else if (strchr(";&|<>()`", ch)) {
			snprintf(msg, msglen, "'%c' in the unquoted value of '%.*s' (put the value in quotes)",
				 ch, (int)(ke - ks), line + ks);
			r = -EINVAL;
			goto fail;
		} else {
			if ((r = buf_put(&b, ch)) < 0)
				goto fail;
			i++;
		}
	}
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < len) {
		snprintf(msg, msglen, "unexpected '%.*s' after the value of '%.*s' (quote values with spaces)",
			 clip(len - i, 30), line + i, (int)(ke - ks), line + ks);
		r = -EINVAL;
		goto fail;
	}
	*key = strndup(line + ks, ke - ks);
	*value = b.p;
	if (!*key) {
		free(b.p);
		*value = NULL;
		return -ENOMEM;
	}
	return 0;
fail:
	free(b.p);
	return r;
}

int vmconf_parse(struct vmconf **out, const char *text, const char *name, char *err, size_t errlen)
{
	*out = NULL;
	struct vmconf *c = vmconf_new();
	if (!c) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	const char *p = text;
	int lineno = 0;
	while (*p) {
		lineno++;
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		size_t rawlen = len;
		if (len && p[len - 1] == '\r')
			len--; /* tolerate CRLF files */
		if (memchr(p, '\0', len)) {
			snprintf(err, errlen, "%s line %d: NUL byte", name, lineno);
			vmconf_free(c);
			return -EINVAL;
		}
		char *key, *value, msg[256];
		int r = parse_line(p, len, &key, &value, msg, sizeof(msg));
		if (r == -EINVAL) {
			/* kept as written (like a comment) and reported, never used */
			char w[512];
			snprintf(w, sizeof(w), "%s line %d: %s; line skipped", name, lineno, msg);
			r = add_warning(c, w);
		}
		if (r < 0) {
			snprintf(err, errlen, "%s: out of memory", name);
			vmconf_free(c);
			return r;
		}
		if ((r = add_line(c, strndup(p, len), key, value)) < 0) {
			snprintf(err, errlen, "%s: out of memory", name);
			vmconf_free(c);
			return r;
		}
		p += rawlen + (nl ? 1 : 0);
	}
	*out = c;
	return 0;
}

int vmconf_load(struct vmconf **out, const char *path, char *err, size_t errlen)
{
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	char *text = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	for (;;) {
		if (cap - n < 4096) {
			if (cap >= (16u << 20)) {
				snprintf(err, errlen, "%s: file too large for a configuration file", path);
				r = -EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 8192;
			char *t = realloc(text, cap);
			if (!t) {
				r = -ENOMEM;
				snprintf(err, errlen, "%s: out of memory", path);
				break;
			}
			text = t;
		}
		size_t got = fread(text + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				r = -EIO;
				snprintf(err, errlen, "%s: read error", path);
			}
			break;
		}
	}
	fclose(f);
	if (r == 0) {
		text[n] = '\0';
		if (memchr(text, '\0', n)) {
			snprintf(err, errlen, "%s: contains a NUL byte (not a text file)", path);
			r = -EINVAL;
		} else {
			r = vmconf_parse(out, text, path, err, errlen);
		}
	}
	free(text);
	return r;
}

char *vmconf_format(const struct vmconf *c)
{
	size_t len = 1;
	for (size_t i = 0; i < c->n; i++)
		len += strlen(c->lines[i].raw) + 1;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	for (size_t i = 0; i < c->n; i++) {
		size_t l = strlen(c->lines[i].raw);
		memcpy(p, c->lines[i].raw, l);
		p += l;
		*p++ = '\n';
	}
	*p = '\0';
	return s;
}

int vmconf_save(const struct vmconf *c, const char *path, char *err, size_t errlen)
{
	char *text = vmconf_format(c);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(tmp)) {
		free(text);
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(text);
		snprintf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(e));
		return -e;
	}
	/* Keep the mode of the file being replaced (mkostemp makes 0600). */
	struct stat st;
	mode_t mode = 0644;
	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	int e = 0;
	size_t len = strlen(text), off = 0;
	while (off < len && !e) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno != EINTR)
			e = errno;
		else if (w > 0)
			off += (size_t)w;
	}
	free(text);
	if (!e && fchmod(fd, mode) < 0)
		e = errno;
	if (!e && fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

const char *vmconf_get(const struct vmconf *c, const char *key)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (c->lines[i].key && strcmp(c->lines[i].key, key) == 0)
			return c->lines[i].value;
	return NULL;
}

const char *vmconf_get_default(const struct vmconf *c, const char *key, const char *def)
{
	const char *v = vmconf_get(c, key);
	return v ? v : def;
}

const char *vmconf_getn(const struct vmconf *c, const char *prefix, int n, const char *suffix)
{
	char key[96];
	snprintf(key, sizeof(key), "%s%d%s", prefix, n, suffix);
	return vmconf_get(c, key);
}

/* key="value" with \" \\ \$ \` escaped, which vmconf_parse (and sh) read back as value. */
static char *format_assignment(const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);
	char *raw = malloc(kl + 2 * vl + 4), *p = raw;
	if (!raw)
		return NULL;
	memcpy(p, key, kl);
	p += kl;
	*p++ = '=';
	*p++ = '"';
	for (const char *v = value; *v; v++) {
		if (strchr("\"\\$`", *v))
			*p++ = '\\';
		*p++ = *v;
	}
	*p++ = '"';
	*p = '\0';
	return raw;
}

int vmconf_set(struct vmconf *c, const char *key, const char *value)
{
	/* a '#' would read back as the start of a comment */
	if (!key_valid(key) || strpbrk(value, "\n\r#"))
		return -EINVAL;
	size_t first = SIZE_MAX;
	for (size_t i = 0; i < c->n; i++) {
		if (!c->lines[i].key || strcmp(c->lines[i].key, key) != 0)
			continue;
		if (first == SIZE_MAX) {
			first = i;
			continue;
		}
		/* a later duplicate: drop it so the new value is the one that counts */
		free(c->lines[i].raw), free(c->lines[i].key), free(c->lines[i].value);
		memmove(&c->lines[i], &c->lines[i + 1], (c->n - i - 1) * sizeof(c->lines[0]));
		c->n--;
		i--;
	}
	char *raw = format_assignment(key, value);
	char *v = strdup(value);
	if (first == SIZE_MAX)
		return add_line(c, raw, strdup(key), v);
	if (!raw || !v) {
		free(raw), free(v);
		return -ENOMEM;
	}
	free(c->lines[first].raw), free(c->lines[first].value);
	c->lines[first].raw = raw;
	c->lines[first].value = v;
	return 0;
}

int vmconf_unset(struct vmconf *c, const char *key)
{
	int removed = 0;
	size_t o = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->lines[i].key && strcmp(c->lines[i].key, key) == 0) {
			free(c->lines[i].raw), free(c->lines[i].key), free(c->lines[i].value);
			removed++;
		} else {
			c->lines[o++] = c->lines[i];
		}
	}
	c->n = o;
	return removed;
}

size_t vmconf_count(const struct vmconf *c)
{
	size_t n = 0;
	for (size_t i = 0; c && i < c->n; i++)
		n += c->lines[i].key != NULL;
	return n;
}

static const struct vmconf_line *assignment_at(const struct vmconf *c, size_t idx)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (c->lines[i].key && idx-- == 0)
			return &c->lines[i];
	return NULL;
}

const char *vmconf_key_at(const struct vmconf *c, size_t i)
{
	const struct vmconf_line *l = assignment_at(c, i);
	return l ? l->key : NULL;
}

const char *vmconf_value_at(const struct vmconf *c, size_t i)
{
	const struct vmconf_line *l = assignment_at(c, i);
	return l ? l->value : NULL;
}

bool vmconf_falsy(const char *v)
{
	return !v || !*v || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcasecmp(v, "false") ||
	       !strcmp(v, "0");
}

bool vmconf_truthy(const char *v)
{
	return !vmconf_falsy(v);
}

size_t vmconf_warning_count(const struct vmconf *c)
{
	return c ? c->nwarnings : 0;
}

const char *vmconf_warning_at(const struct vmconf *c, size_t i)
{
	return c && i < c->nwarnings ? c->warnings[i] : NULL;
}

void vmconf_report(const struct vmconf *c, const char *prog)
{
	for (size_t i = 0; c && i < c->nwarnings; i++)
		fprintf(stderr, "%s: warning: %s\n", prog, c->warnings[i]);
}

int vmconf_parse_size(const char *s, uint64_t *bytes)
{
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	uint64_t v = 0;
	const char *p = s;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	unsigned shift = 0;
	switch (toupper((unsigned char)*p)) {
	case '\0': break;
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	case 'B': break;
	default: return -EINVAL;
	}
	if (*p && toupper((unsigned char)*p) != 'B')
		p++;
	/* "512MB", "512MiB", "512mb": the unit may be spelt out as people (and bhyve's -m) do */
	if (shift && (*p == 'i' || *p == 'I') && (p[1] == 'B' || p[1] == 'b'))
		p++;
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p)
		return -EINVAL;
	if (v == 0)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes = v << shift;
	return 0;
}
