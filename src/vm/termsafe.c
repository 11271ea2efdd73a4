/* SPDX-License-Identifier: BSD-2-Clause */
/* Escaping of control characters for the terminal (termsafe.h). */
#include "vm/termsafe.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid, printable UTF-8 character at p (1 to 4), or 0 when the byte at p has to
 * be escaped: a control character, a C1 control (U+0080..U+009F), or not valid UTF-8 (overlong,
 * surrogate, beyond U+10FFFF, cut short). */
static size_t printable_len(const unsigned char *p)
{
	unsigned c = p[0];
	if (c < 0x20 || c == 0x7f)
		return 0;
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t cp, min;
	if ((c & 0xe0) == 0xc0) {
		n = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* a NUL ends the string here too */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

/* The next piece of s made safe, into tok (at most 5 bytes); how many bytes of s it stands for. */
static size_t next_piece(const unsigned char *s, char tok[8], size_t *toklen)
{
	size_t n = printable_len(s);
	if (n) {
		memcpy(tok, s, n);
		*toklen = n;
		return n;
	}
	tok[0] = '\\';
	tok[1] = (char)('0' + (s[0] >> 6));
	tok[2] = (char)('0' + ((s[0] >> 3) & 7));
	tok[3] = (char)('0' + (s[0] & 7));
	*toklen = 4;
	return 1;
}

char *term_safe(const char *s, char *out, size_t outlen)
{
	if (!outlen)
		return out;
	size_t used = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		char tok[8];
		size_t tl, n = next_piece(p, tok, &tl);
		if (used + tl >= outlen)
			break;
		memcpy(out + used, tok, tl);
		used += tl;
		p += n;
	}
	out[used] = '\0';
	return out;
}

void term_safe_fputs(const char *s, bool keep_newlines, FILE *f)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (keep_newlines && *p == '\n') {
			fputc('\n', f);
			p++;
			continue;
		}
		char tok[8];
		size_t tl, n = next_piece(p, tok, &tl);
		fwrite(tok, 1, tl, f);
		p += n;
	}
}
