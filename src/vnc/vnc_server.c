/* SPDX-License-Identifier: BSD-2-Clause */
/* The VNC server (see vnc_server.h).
 *
 * Handshake with a viewer (RFB 6.1-6.3):
 *   server "RFB 003.008\n" -> viewer version (3.7 and 3.8 as such, any other 3.x as 3.3);
 *   3.7/3.8: the server lists one type, [1] None or [2] VNC auth, the viewer picks it;
 *   3.3: the server names the type (u32);
 *   VNC auth: 16-byte challenge -> 16-byte response -> SecurityResult (after a delay if wrong);
 *   None: SecurityResult only in 3.8. Then ClientInit (1 byte) and ServerInit.
 * After that, the viewer's bytes go through rfb_filter (whole, valid messages only) and are
 * acted on; an update request is answered when there is something to send: a new size, the
 * QEMU key announcement, the whole screen, or the lines the guest changed. */
#include "vnc/vnc_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "core/evloop.h"
#include "core/log.h"
#include "core/vm.h"
#include "input/console_input.h"
#include "vnc/rfb_encode.h"
#include "vnc/rfb_filter.h"
#include "vnc/vnc_auth.h"

#define SEC_NONE 1
#define SEC_VNC_AUTH 2

#define ENC_RAW 0
#define ENC_ZRLE 16
#define ENC_DESKTOP_SIZE (-223)
#define ENC_QEMU_KEY (-258)

enum state {
	ST_VERSION,	/* reading the viewer's 12-byte version */
	ST_SECTYPE,	/* its choice of security type (3.7, 3.8) */
	ST_RESPONSE,	/* its 16-byte VNC-auth response */
	ST_REFUSING,	/* a wrong password: the answer waits for the timer */
	ST_CLIENT_INIT, /* its ClientInit byte */
	ST_READY,
	ST_CLOSING, /* flush what is queued, then close */
};

struct viewer {
	struct vnc_server *s;
	int fd;
	struct evloop_handle *h, *timer;
	enum state st;
	int minor; /* 3, 7 or 8 */
	uint8_t in[VNC_AUTH_CHALLENGE];
	size_t have;
	uint8_t challenge[VNC_AUTH_CHALLENGE];
	struct rfb_filter filter;
	struct rfb_buf msgs; /* filtered client bytes not yet acted on */
	struct rfb_buf out;  /* bytes for the viewer; [out_off, out.len) unsent */
	size_t out_off;
	struct rfb_pixfmt pf;
	bool zrle, desktop_size, qemu_key, qemu_announced;
	bool pending, full;
	bool counted; /* in the server's nready (ServerInit sent) */
	unsigned known_w, known_h;
	uint8_t *dirty_rows; /* one flag a line of the screen */
	unsigned rows;
	z_stream zs;
	bool zs_ready;
	struct viewer *next;
};

struct vnc_server {
	struct vm *vm;
	const struct display *d;
	char name[64];
	char *password;
	int lfd;
	struct evloop_handle *lh, *refresh;
	struct viewer *viewers;
	unsigned nviewers, nready;
	bool holding_start;
	unsigned interval_ms; /* the refresh timer's period now */
	bool has_mode;
	struct display_mode mode;
	uint8_t *blank;
	unsigned long *pages;
	size_t page_words;
	struct kb_ratelimit rl;
	/* what updates cost, for diagnostics */
	unsigned long long updates, bytes;
};

/* ---- output ---- */

static size_t out_pending(const struct viewer *v)
{
	return v->out.len - v->out_off;
}

static void put(struct viewer *v, const void *p, size_t n)
{
	if (!rfb_buf_put(&v->out, p, n))
		v->st = ST_CLOSING;
}

static void put_u32(struct viewer *v, uint32_t x)
{
	uint8_t b[4] = {(uint8_t)(x >> 24), (uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
	put(v, b, 4);
}

/* Write what is queued; -1 on a broken connection. */
static int flush(struct viewer *v)
{
	while (out_pending(v)) {
		ssize_t n = send(v->fd, v->out.p + v->out_off, out_pending(v),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		v->out_off += (size_t)n;
		v->s->bytes += (unsigned long long)n;
	}
	v->out.len = v->out_off = 0;
	return 0;
}

/* ---- viewers ---- */

static void viewer_free(struct viewer *v)
{
	struct vnc_server *s = v->s;
	for (struct viewer **p = &s->viewers; *p; p = &(*p)->next)
		if (*p == v) {
			*p = v->next;
			break;
		}
	s->nviewers--;
	if (v->counted) {
		if (--s->nready == 0 && s->refresh) {
			evloop_timer_set(s->refresh, 0, 0);
			kb_debug("vnc: last viewer left (%llu updates, %llu bytes)", s->updates,
				 s->bytes);
		}
	}
	if (v->timer)
		evloop_del(s->vm->ev, v->timer);
	if (v->h)
		evloop_del(s->vm->ev, v->h);
	close(v->fd);
	if (v->zs_ready)
		deflateEnd(&v->zs);
	rfb_buf_free(&v->msgs);
	rfb_buf_free(&v->out);
	free(v->dirty_rows);
	free(v);
}

static void drop(struct viewer *v, const char *why)
{
	if (why)
		kb_guest_log(&v->s->rl, "vnc: dropping a viewer: %s", why);
	viewer_free(v);
}

static void refuse(struct viewer *v, const char *reason)
{
	put_u32(v, 1);
	if (v->minor >= 8) {
		put_u32(v, (uint32_t)strlen(reason));
		put(v, reason, strlen(reason));
	}
	v->st = ST_CLOSING;
}

/* ---- the screen ---- */

static void screen_size(const struct vnc_server *s, unsigned *w, unsigned *h)
{
	*w = s->has_mode ? s->mode.width : s->d->blank_width;
	*h = s->has_mode ? s->mode.height : s->d->blank_height;
}

static struct rfb_source screen_source(const struct vnc_server *s)
{
	if (s->has_mode)
		return (struct rfb_source){s->d->vram + s->mode.offset, s->mode.width,
					   s->mode.height, s->mode.bpp, s->mode.stride};
	return (struct rfb_source){s->blank, s->d->blank_width, s->d->blank_height, 32,
				   s->d->blank_width * 4};
}

static bool viewer_rows(struct viewer *v, unsigned h)
{
	if (v->rows == h)
		return true;
	uint8_t *r = calloc(h, 1);
	if (!r)
		return false;
	free(v->dirty_rows);
	v->dirty_rows = r;
	v->rows = h;
	v->full = true;
	return true;
}

static void rect_header(struct viewer *v, unsigned x, unsigned y, unsigned w, unsigned h, int32_t enc)
{
	uint8_t b[12] = {(uint8_t)(x >> 8), (uint8_t)x, (uint8_t)(y >> 8), (uint8_t)y,
			 (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 8), (uint8_t)h,
			 (uint8_t)((uint32_t)enc >> 24), (uint8_t)((uint32_t)enc >> 16),
			 (uint8_t)((uint32_t)enc >> 8), (uint8_t)enc};
	put(v, b, 12);
}

static bool encode_band(struct viewer *v, const struct rfb_source *src, unsigned y, unsigned h)
{
	rect_header(v, 0, y, src->width, h, v->zrle ? ENC_ZRLE : ENC_RAW);
	if (v->st == ST_CLOSING)
		return false;
	return v->zrle ? rfb_encode_zrle(&v->out, &v->zs, src, &v->pf, 0, y, src->width, h)
		       : rfb_encode_raw(&v->out, src, &v->pf, 0, y, src->width, h);
}

/* Answer a pending update request if there is anything to send. False when v was dropped. */
static bool try_update(struct viewer *v)
{
	struct vnc_server *s = v->s;
	if (v->st != ST_READY || !v->pending || out_pending(v) > VNC_OUT_HIGH)
		return true;
	unsigned w, h;
	screen_size(s, &w, &h);
	bool resize = w != v->known_w || h != v->known_h;
	if (resize && !v->desktop_size) {
		drop(v, "the screen changed size and the viewer cannot follow (no DesktopSize)");
		return false;
	}
	if (!viewer_rows(v, h)) {
		drop(v, "out of memory");
		return false;
	}
	bool announce = v->qemu_key && !v->qemu_announced;
	/* the bands of changed lines */
	unsigned nbands = 0;
	if (!v->full)
		for (unsigned y = 0; y < h; y++)
			if (v->dirty_rows[y] && (y == 0 || !v->dirty_rows[y - 1]))
				nbands++;
	unsigned nrects = (resize ? 1 : 0) + (announce ? 1 : 0) + (v->full ? 1 : nbands);
	if (nrects == 0)
		return true; /* nothing yet: the request waits for the guest to draw */
	uint8_t hdr[4] = {0, 0, (uint8_t)(nrects >> 8), (uint8_t)nrects};
	put(v, hdr, 4);
	if (resize) {
		rect_header(v, 0, 0, w, h, ENC_DESKTOP_SIZE);
		v->known_w = w;
		v->known_h = h;
	}
	if (announce) {
		rect_header(v, 0, 0, 0, 0, ENC_QEMU_KEY);
		v->qemu_announced = true;
	}
	struct rfb_source src = screen_source(s);
	bool ok = true;
	if (v->full) {
		ok = encode_band(v, &src, 0, h);
	} else {
		for (unsigned y = 0; y < h && ok;) {
			if (!v->dirty_rows[y]) {
				y++;
				continue;
			}
			unsigned y1 = y;
			while (y1 < h && v->dirty_rows[y1])
				y1++;
			ok = encode_band(v, &src, y, y1 - y);
			y = y1;
		}
	}
	if (!ok) {
		drop(v, "cannot encode an update");
		return false;
	}
	memset(v->dirty_rows, 0, v->rows);
	v->full = false;
	v->pending = false;
	s->updates++;
	return true;
}

/* Which lines of the mode the dirty pages cover; OR them into every ready viewer. */
static void spread_damage(struct vnc_server *s)
{
	const struct display_mode *m = &s->mode;
	uint64_t start = m->offset;
	uint64_t end = m->offset + (uint64_t)(m->height - 1) * m->stride +
		       (uint64_t)m->width * (m->bpp / 8);
	const unsigned bits = 8 * sizeof(unsigned long);
	for (uint64_t page = start >> DISPLAY_PAGE_SHIFT; page <= (end - 1) >> DISPLAY_PAGE_SHIFT;
	     page++) {
		if (!(s->pages[page / bits] & (1UL << (page % bits))))
			continue;
		uint64_t b0 = page << DISPLAY_PAGE_SHIFT, b1 = b0 + (1u << DISPLAY_PAGE_SHIFT);
		b0 = b0 > start ? b0 - start : 0;
		b1 = b1 - start;
		uint64_t y0 = b0 / m->stride, y1 = (b1 + m->stride - 1) / m->stride;
		if (y1 > m->height)
			y1 = m->height;
		for (struct viewer *v = s->viewers; v; v = v->next)
			if (v->st == ST_READY && v->rows == m->height && y1 > y0)
				memset(v->dirty_rows + y0, 1, (size_t)(y1 - y0));
	}
}

/* The refresh period: VNC_REFRESH_MS while things change, growing by half while they do not. */
static void pace(struct vnc_server *s, bool changed)
{
	unsigned next = changed ? VNC_REFRESH_MS : s->interval_ms + s->interval_ms / 2;
	if (next > VNC_REFRESH_IDLE_MS)
		next = VNC_REFRESH_IDLE_MS;
	if (next != s->interval_ms && s->nready) {
		s->interval_ms = next;
		evloop_timer_set(s->refresh, next, next);
	}
}

static void refresh(void *opaque)
{
	struct vnc_server *s = opaque;
	memset(s->pages, 0, s->page_words * sizeof(unsigned long));
	s->d->ops->dirty(s->d->opaque, s->pages);
	bool changed = false;
	for (size_t i = 0; i < s->page_words && !changed; i++)
		changed = s->pages[i] != 0;
	struct display_mode m;
	bool has = s->d->ops->mode(s->d->opaque, &m);
	if (has != s->has_mode || (has && memcmp(&m, &s->mode, sizeof(m)) != 0)) {
		s->has_mode = has;
		s->mode = has ? m : (struct display_mode){0};
		unsigned w, h;
		screen_size(s, &w, &h);
		console_set_screen_size(w, h);
		kb_debug("vnc: screen %ux%u%s", w, h, has ? "" : " (blank: no mode)");
		for (struct viewer *v = s->viewers; v; v = v->next)
			v->full = true;
		changed = true;
	} else if (has) {
		spread_damage(s);
	}
	pace(s, changed);
	for (struct viewer *v = s->viewers, *next; v; v = next) {
		next = v->next; /* v may be dropped */
		if (try_update(v) && out_pending(v) && flush(v) < 0)
			drop(v, NULL);
	}
}

/* ---- client messages (after rfb_filter: whole, valid, at most 32 encodings) ---- */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* QEMU's key numbers (XT scan codes, 0x80 | code for E0-prefixed keys) -> Linux KEY_* codes.
 * Below 0x59 the two are the same by design. */
static uint32_t qnum_to_evdev(uint32_t q)
{
	static const struct {
		uint8_t q;
		uint16_t key;
	} ext[] = {
	    {0x9c, 96},	 /* KP Enter */
	    {0x9d, 97},	 /* Right Ctrl */
	    {0xb5, 98},	 /* KP / */
	    {0xb7, 99},	 /* SysRq */
	    {0xb8, 100}, /* Right Alt */
	    {0xc7, 102}, /* Home */
	    {0xc8, 103}, /* Up */
	    {0xc9, 104}, /* Page Up */
	    {0xcb, 105}, /* Left */
	    {0xcd, 106}, /* Right */
	    {0xcf, 107}, /* End */
	    {0xd0, 108}, /* Down */
	    {0xd1, 109}, /* Page Down */
	    {0xd2, 110}, /* Insert */
	    {0xd3, 111}, /* Delete */
	    {0xdb, 125}, /* Left Meta */
	    {0xdc, 126}, /* Right Meta */
	    {0xdd, 127}, /* Compose */
	};
	if (q > 0 && q < 0x59)
		return q;
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (ext[i].q == q)
			return ext[i].key;
	return 0;
}

/* Act on whole messages at the front of v->msgs; a partial one stays. False if v was freed. */
static bool handle_messages(struct viewer *v)
{
	size_t i = 0;
	const uint8_t *m = v->msgs.p;
	while (i < v->msgs.len) {
		size_t left = v->msgs.len - i, len;
		const uint8_t *p = m + i;
		switch (p[0]) {
		case 0: /* SetPixelFormat */
			len = 20;
			if (left < len)
				goto partial;
			rfb_pixfmt_from_wire(&v->pf, p + 4);
			v->full = true;
			break;
		case 2: { /* SetEncodings */
			if (left < 4)
				goto partial;
			unsigned n = be16(p + 2);
			len = 4 + 4 * (size_t)n;
			if (left < len)
				goto partial;
			v->zrle = v->desktop_size = v->qemu_key = false;
			for (unsigned k = 0; k < n; k++) {
				int32_t e = (int32_t)be32(p + 4 + 4 * k);
				if (e == ENC_ZRLE)
					v->zrle = true;
				else if (e == ENC_DESKTOP_SIZE)
					v->desktop_size = true;
				else if (e == ENC_QEMU_KEY)
					v->qemu_key = true;
			}
			break;
		}
		case 3: /* FramebufferUpdateRequest */
			len = 10;
			if (left < len)
				goto partial;
			v->pending = true;
			if (!p[1])
				v->full = true;
			break;
		case 4: /* KeyEvent */
			len = 8;
			if (left < len)
				goto partial;
			console_key_event(p[1] != 0, be32(p + 4), 0);
			pace(v->s, true);
			break;
		case 5: /* PointerEvent */
			len = 6;
			if (left < len)
				goto partial;
			console_ptr_event(p[1], be16(p + 2), be16(p + 4));
			pace(v->s, true);
			break;
		case 255: /* QEMU extended key event */
			len = 12;
			if (left < len)
				goto partial;
			console_key_event(be16(p + 2) != 0, be32(p + 4), qnum_to_evdev(be32(p + 8)));
			pace(v->s, true);
			break;
		default: /* rfb_filter passes nothing else */
			drop(v, "internal: unexpected message");
			return false;
		}
		i += len;
	}
partial:
	memmove(v->msgs.p, v->msgs.p + i, v->msgs.len - i);
	v->msgs.len -= i;
	return try_update(v);
}

/* ---- handshake ---- */

static bool need(struct viewer *v, const uint8_t **p, size_t *n, size_t want)
{
	size_t k = want - v->have;
	if (k > *n)
		k = *n;
	memcpy(v->in + v->have, *p, k);
	v->have += k;
	*p += k;
	*n -= k;
	return v->have == want;
}

static void send_challenge(struct viewer *v)
{
	if (getrandom(v->challenge, sizeof(v->challenge), 0) != (ssize_t)sizeof(v->challenge)) {
		refuse(v, "server error");
		return;
	}
	put(v, v->challenge, sizeof(v->challenge));
	v->st = ST_RESPONSE;
}

static void security_passed(struct viewer *v)
{
	if (v->minor >= 8 || v->s->password)
		put_u32(v, 0);
	v->st = ST_CLIENT_INIT;
}

static void start_security(struct viewer *v)
{
	uint8_t type = v->s->password ? SEC_VNC_AUTH : SEC_NONE;
	if (v->minor == 3) {
		put_u32(v, type); /* 3.3: the server decides */
		if (type == SEC_NONE)
			security_passed(v);
		else
			send_challenge(v);
		return;
	}
	uint8_t list[2] = {1, type};
	put(v, list, 2);
	v->st = ST_SECTYPE;
}

static void refuse_timer(void *opaque)
{
	struct viewer *v = opaque;
	evloop_del(v->s->vm->ev, v->timer);
	v->timer = NULL;
	refuse(v, "authentication failed");
	if (flush(v) < 0 || !out_pending(v))
		drop(v, NULL);
	else
		evloop_modify(v->s->vm->ev, v->h, EPOLLOUT);
}

static void handshake_timeout(void *opaque)
{
	drop(opaque, "the handshake took too long");
}

/* The viewer is in: ServerInit, and it counts as a viewer from now on. */
static void server_init(struct viewer *v)
{
	struct vnc_server *s = v->s;
	unsigned w, h;
	screen_size(s, &w, &h);
	uint8_t b[24];
	b[0] = (uint8_t)(w >> 8);
	b[1] = (uint8_t)w;
	b[2] = (uint8_t)(h >> 8);
	b[3] = (uint8_t)h;
	rfb_pixfmt_default(&v->pf);
	rfb_pixfmt_to_wire(&v->pf, b + 4);
	size_t nl = strlen(s->name);
	b[20] = (uint8_t)(nl >> 24);
	b[21] = (uint8_t)(nl >> 16);
	b[22] = (uint8_t)(nl >> 8);
	b[23] = (uint8_t)nl;
	put(v, b, 24);
	put(v, s->name, nl);
	v->known_w = w;
	v->known_h = h;
	v->full = true;
	if (deflateInit(&v->zs, 1) == Z_OK)
		v->zs_ready = true;
	if (!v->zs_ready || !viewer_rows(v, h)) {
		v->st = ST_CLOSING;
		return;
	}
	v->st = ST_READY;
	if (v->timer) {
		evloop_del(s->vm->ev, v->timer);
		v->timer = NULL;
	}
	v->counted = true;
	if (s->nready++ == 0) {
		s->interval_ms = VNC_REFRESH_MS;
		evloop_timer_set(s->refresh, VNC_REFRESH_MS, VNC_REFRESH_MS);
		refresh(s); /* catch up with what changed while nobody watched */
	}
	kb_debug("vnc: viewer in (%u)", s->nready);
	if (s->holding_start) {
		s->holding_start = false;
		kb_debug("vnc: first viewer, starting the guest");
		vm_release_start(s->vm);
	}
}

/* Handshake bytes: the number consumed (the rest are messages), or -1 when v was freed. */
static ssize_t handshake(struct viewer *v, const uint8_t *p, size_t n)
{
	size_t start = n;
	while (n && v->st != ST_READY && v->st != ST_CLOSING && v->st != ST_REFUSING) {
		switch (v->st) {
		case ST_VERSION:
			if (!need(v, &p, &n, 12))
				break;
			v->have = 0;
			if (memcmp(v->in, "RFB 003.", 8) != 0 || v->in[11] != '\n') {
				drop(v, "not an RFB viewer");
				return -1;
			}
			v->minor = memcmp(v->in + 8, "008", 3) == 0   ? 8
				   : memcmp(v->in + 8, "007", 3) == 0 ? 7
								      : 3;
			start_security(v);
			break;
		case ST_SECTYPE: {
			if (!need(v, &p, &n, 1))
				break;
			v->have = 0;
			uint8_t want = v->s->password ? SEC_VNC_AUTH : SEC_NONE;
			if (v->in[0] != want)
				refuse(v, "security type not offered");
			else if (want == SEC_NONE)
				security_passed(v);
			else
				send_challenge(v);
			break;
		}
		case ST_RESPONSE:
			if (!need(v, &p, &n, VNC_AUTH_CHALLENGE))
				break;
			v->have = 0;
			if (vnc_auth_check(v->s->password, v->challenge, v->in)) {
				security_passed(v);
				break;
			}
			kb_guest_log(&v->s->rl, "vnc: a viewer gave a wrong password");
			v->st = ST_REFUSING;
			if (v->timer)
				evloop_del(v->s->vm->ev, v->timer);
			v->timer = evloop_add_timer(v->s->vm->ev, VNC_BAD_PASSWORD_MS, 0,
						    refuse_timer, v);
			if (!v->timer) {
				drop(v, NULL);
				return -1;
			}
			break;
		case ST_CLIENT_INIT:
			/* the shared flag: every viewer shares the screen here */
			p++;
			n--;
			server_init(v);
			break;
		default:
			break;
		}
	}
	return (ssize_t)(start - n);
}

/* Bytes once ready: through the filter, then acted on. False when the viewer was freed. */
static bool messages(struct viewer *v, const uint8_t *p, size_t n)
{
	if (!rfb_buf_reserve(&v->msgs, n + RFB_FILTER_SLACK)) {
		drop(v, "out of memory");
		return false;
	}
	struct rfb_out o = {v->msgs.p, v->msgs.len, v->msgs.cap};
	const char *why;
	int rc = rfb_filter_feed(&v->filter, p, n, &o, &why);
	v->msgs.len = o.len;
	if (rc < 0) {
		drop(v, why);
		return false;
	}
	return handle_messages(v);
}

static void viewer_event(int fd, uint32_t events, void *opaque)
{
	struct viewer *v = opaque;
	struct vnc_server *s = v->s;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		uint8_t buf[16384];
		ssize_t n = recv(v->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			drop(v, NULL);
			return;
		}
		if (n > 0) {
			const uint8_t *p = buf;
			size_t left = (size_t)n;
			if (v->st != ST_READY) {
				ssize_t k = handshake(v, p, left);
				if (k < 0)
					return;
				p += k;
				left -= (size_t)k;
			}
			if (left && v->st == ST_READY && !messages(v, p, left))
				return;
		}
	}
	if (flush(v) < 0) {
		drop(v, NULL);
		return;
	}
	if (v->st == ST_CLOSING && !out_pending(v)) {
		drop(v, NULL);
		return;
	}
	/* room again after a backlog: a waiting request may be answered now */
	if (!try_update(v))
		return;
	if (flush(v) < 0) {
		drop(v, NULL);
		return;
	}
	uint32_t ev = 0;
	if (v->st != ST_REFUSING && v->st != ST_CLOSING)
		ev |= EPOLLIN;
	if (out_pending(v))
		ev |= EPOLLOUT;
	evloop_modify(s->vm->ev, v->h, ev);
}

static void accept_event(int fd, uint32_t events, void *opaque)
{
	struct vnc_server *s = opaque;
	int cfd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	if (s->nviewers >= VNC_MAX_VIEWERS) {
		kb_guest_log(&s->rl, "vnc: refusing a viewer: %d already connected", VNC_MAX_VIEWERS);
		close(cfd);
		return;
	}
	int one = 1;
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct viewer *v = calloc(1, sizeof(*v));
	if (!v) {
		close(cfd);
		return;
	}
	v->s = s;
	v->fd = cfd;
	v->next = s->viewers;
	s->viewers = v;
	s->nviewers++;
	v->h = evloop_add_fd(s->vm->ev, cfd, EPOLLIN, viewer_event, v);
	v->timer = evloop_add_timer(s->vm->ev, VNC_HANDSHAKE_MS, 0, handshake_timeout, v);
	if (!v->h || !v->timer) {
		viewer_free(v);
		return;
	}
	put(v, "RFB 003.008\n", 12);
	if (flush(v) < 0)
		viewer_free(v);
}

/* ---- the listener ---- */

static int listen_on(const char *host, unsigned port, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *res;
	char service[16];
	snprintf(service, sizeof(service), "%u", port);
	const char *lb = strchr(host, ':') ? "[" : "", *rb = strchr(host, ':') ? "]" : "";
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s%s%s:%u: %s", lb, host, rb, port,
			 gai_strerror(rc));
		return -1;
	}
	int fd = -1, e = 0;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 16) < 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s%s%s:%u: %s", lb, host, rb, port,
			 strerror(e));
	return fd;
}

void vnc_server_close(struct vnc_server *s)
{
	if (!s)
		return;
	while (s->viewers)
		viewer_free(s->viewers);
	if (s->refresh)
		evloop_del(s->vm->ev, s->refresh);
	if (s->lh)
		evloop_del(s->vm->ev, s->lh);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->password) {
		memset(s->password, 0, strlen(s->password));
		free(s->password);
	}
	free(s->blank);
	free(s->pages);
	free(s);
}

struct vnc_server *vnc_server_open(struct vm *vm, const struct vnc_options *o,
				   const struct display *d, char *err, size_t errlen)
{
	struct vnc_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->vm = vm;
	s->d = d;
	s->lfd = -1;
	snprintf(s->name, sizeof(s->name), "%s", o->name && *o->name ? o->name : "kbhyve");
	size_t npages = d->vram_size >> DISPLAY_PAGE_SHIFT;
	s->page_words = (npages + 8 * sizeof(unsigned long) - 1) / (8 * sizeof(unsigned long));
	s->pages = calloc(s->page_words, sizeof(unsigned long));
	s->blank = calloc((size_t)d->blank_width * d->blank_height, 4);
	if (!s->pages || !s->blank || (o->password && !(s->password = strdup(o->password)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->lfd = listen_on(o->host, o->port, err, errlen);
	if (s->lfd < 0)
		goto fail;
	s->lh = evloop_add_fd(vm->ev, s->lfd, EPOLLIN, accept_event, s);
	s->refresh = evloop_add_timer(vm->ev, 0, 0, refresh, s);
	if (!s->lh || !s->refresh) {
		snprintf(err, errlen, "cannot watch the VNC server's descriptors");
		goto fail;
	}
	evloop_timer_set(s->refresh, 0, 0);
	console_set_screen_size(d->blank_width, d->blank_height);
	if (o->wait) {
		vm_hold_start(vm);
		s->holding_start = true;
		kb_log("waiting for a VNC viewer on %s%s%s:%u before starting the guest",
		       strchr(o->host, ':') ? "[" : "", o->host, strchr(o->host, ':') ? "]" : "",
		       o->port);
	}
	return s;
fail:
	vnc_server_close(s);
	return NULL;
}
