/* The VNC server (see vnc_server.h). libneatvnc runs on its own "aml" main loop; that loop's
 * descriptor sits in the VM's event loop, so every neatvnc call and callback happens on the
 * event-loop thread (its encoders use aml's worker threads and report back the same way).
 *
 * Updates are pulled: while at least one viewer is connected, a timer asks the display which VRAM
 * pages the guest wrote (KVM's dirty log) and feeds only the lines they cover; an idle guest
 * screen costs one ioctl per tick and no encoding, and no viewer costs nothing. */
#include "vnc/vnc_server.h"

#include <aml.h>
#include <errno.h>
#include <neatvnc.h>
#include <pixman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "core/evloop.h"
#include "core/log.h"
#include "core/vm.h"
#include "input/console_input.h"

#define REFRESH_MS 33 /* about 30 frames a second while someone watches */

/* DRM fourcc codes (drm_fourcc.h), the formats neatvnc takes */
#define FOURCC(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define FORMAT_XRGB8888 FOURCC('X', 'R', '2', '4')
#define FORMAT_RGB565 FOURCC('R', 'G', '1', '6')

struct vnc_server {
	struct vm *vm;
	const struct display *d;
	struct aml *aml;
	struct nvnc *nvnc;
	struct nvnc_display *ndisp;
	struct evloop_handle *aml_watch, *refresh;
	unsigned clients;
	bool holding_start; /* "wait": vm_hold_start taken, released by the first viewer */
	struct nvnc_fb *fb;  /* what viewers see now */
	struct display_mode mode;
	bool has_mode;
	uint8_t *blank; /* black pixels for the screen without a mode */
	unsigned long *dirty;
	size_t dirty_words;
};

static void log_from_neatvnc(const struct nvnc_log_data *meta, const char *message)
{
	size_t n = strlen(message);
	while (n && message[n - 1] == '\n')
		n--;
	kb_debug("vnc: %.*s", (int)n, message);
	(void)meta;
}

static void on_key(struct nvnc_client *client, uint32_t keysym, bool down)
{
	console_key_event(down, keysym, 0);
}

static void on_key_code(struct nvnc_client *client, uint32_t code, bool down)
{
	console_key_event(down, 0, code);
}

static void on_pointer(struct nvnc_client *client, uint16_t x, uint16_t y,
		       enum nvnc_button_mask buttons)
{
	console_ptr_event((uint8_t)buttons, x, y);
}

/* Make the buffer viewers see follow the display's mode. True when it changed. */
static bool follow_mode(struct vnc_server *s)
{
	struct display_mode m;
	bool has = s->d->ops->mode(s->d->opaque, &m);
	if (s->fb && has == s->has_mode && (!has || memcmp(&m, &s->mode, sizeof(m)) == 0))
		return false;
	struct nvnc_fb *fb;
	if (has) {
		uint32_t fmt = m.bpp == 16 ? FORMAT_RGB565 : FORMAT_XRGB8888;
		fb = nvnc_fb_from_buffer((void *)(s->d->vram + m.offset), (uint16_t)m.width,
					 (uint16_t)m.height, fmt, (int32_t)(m.stride / (m.bpp / 8)));
	} else {
		fb = nvnc_fb_from_buffer(s->blank, (uint16_t)s->d->blank_width,
					 (uint16_t)s->d->blank_height, FORMAT_XRGB8888,
					 (int32_t)s->d->blank_width);
	}
	if (!fb) {
		kb_debug("vnc: cannot wrap the frame buffer");
		return false;
	}
	if (s->fb)
		nvnc_fb_unref(s->fb);
	s->fb = fb;
	s->has_mode = has;
	s->mode = has ? m : (struct display_mode){0};
	console_set_screen_size(nvnc_fb_get_width(fb), nvnc_fb_get_height(fb));
	if (has)
		kb_debug("vnc: guest mode %ux%u, %u bpp, stride %u, offset %llu", m.width, m.height,
			 m.bpp, m.stride, (unsigned long long)m.offset);
	return true;
}

/* The lines of the current mode that dirty pages cover, as rectangles. */
static void dirty_region(struct vnc_server *s, pixman_region16_t *r)
{
	const struct display_mode *m = &s->mode;
	uint64_t start = m->offset, end = m->offset + (uint64_t)(m->height - 1) * m->stride +
					  (uint64_t)m->width * (m->bpp / 8);
	uint64_t page = start >> DISPLAY_PAGE_SHIFT, last = (end - 1) >> DISPLAY_PAGE_SHIFT;
	const unsigned bits = 8 * sizeof(unsigned long);
	while (page <= last) {
		if (!(s->dirty[page / bits] & (1UL << (page % bits)))) {
			page++;
			continue;
		}
		uint64_t run = page;
		while (run + 1 <= last && (s->dirty[(run + 1) / bits] & (1UL << ((run + 1) % bits))))
			run++;
		uint64_t b0 = page << DISPLAY_PAGE_SHIFT, b1 = (run + 1) << DISPLAY_PAGE_SHIFT;
		b0 = b0 > start ? b0 - start : 0;
		b1 = b1 - start;
		uint64_t y0 = b0 / m->stride, y1 = (b1 + m->stride - 1) / m->stride;
		if (y1 > m->height)
			y1 = m->height;
		if (y1 > y0)
			pixman_region_union_rect(r, r, 0, (int)y0, m->width, (unsigned)(y1 - y0));
		page = run + 1;
	}
}

static void refresh(void *opaque)
{
	struct vnc_server *s = opaque;
	memset(s->dirty, 0, s->dirty_words * sizeof(unsigned long));
	s->d->ops->dirty(s->d->opaque, s->dirty);
	pixman_region16_t r;
	pixman_region_init(&r);
	if (follow_mode(s))
		pixman_region_union_rect(&r, &r, 0, 0, nvnc_fb_get_width(s->fb),
					 nvnc_fb_get_height(s->fb));
	else if (s->has_mode)
		dirty_region(s, &r);
	if (pixman_region_not_empty(&r))
		nvnc_display_feed_buffer(s->ndisp, s->fb, &r);
	pixman_region_fini(&r);
}

static void on_client_gone(struct nvnc_client *client)
{
	struct vnc_server *s = nvnc_get_userdata(nvnc_client_get_server(client));
	if (s->clients && --s->clients == 0 && s->refresh) {
		evloop_timer_set(s->refresh, 0, 0);
		kb_debug("vnc: last viewer left");
	}
}

static void on_new_client(struct nvnc_client *client)
{
	struct vnc_server *s = nvnc_get_userdata(nvnc_client_get_server(client));
	nvnc_set_client_cleanup_fn(client, on_client_gone);
	if (s->clients++ == 0) {
		refresh(s); /* what changed while nobody watched */
		evloop_timer_set(s->refresh, REFRESH_MS, REFRESH_MS);
	}
	kb_debug("vnc: viewer connected (%u)", s->clients);
	if (s->holding_start) {
		s->holding_start = false;
		kb_debug("vnc: first viewer, starting the guest");
		vm_release_start(s->vm);
	}
}

static void on_aml(int fd, uint32_t events, void *opaque)
{
	struct vnc_server *s = opaque;
	if (aml_poll(s->aml, 0) >= 0)
		aml_dispatch(s->aml);
}

void vnc_server_close(struct vnc_server *s)
{
	if (!s)
		return;
	if (s->refresh)
		evloop_del(s->vm->ev, s->refresh);
	if (s->aml_watch)
		evloop_del(s->vm->ev, s->aml_watch);
	if (s->nvnc)
		nvnc_close(s->nvnc);
	if (s->ndisp)
		nvnc_display_unref(s->ndisp);
	if (s->fb)
		nvnc_fb_unref(s->fb);
	free(s->blank);
	free(s->dirty);
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
	size_t pages = d->vram_size >> DISPLAY_PAGE_SHIFT;
	s->dirty_words = (pages + 8 * sizeof(unsigned long) - 1) / (8 * sizeof(unsigned long));
	s->dirty = calloc(s->dirty_words, sizeof(unsigned long));
	s->blank = calloc((size_t)d->blank_width * d->blank_height, 4);
	if (!s->dirty || !s->blank) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* One aml loop per process, kept to the end: aml's worker pool does not survive its loop
	 * being freed and another made (bhyve runs one VM per process; unit tests make several). */
	static struct aml *process_aml;
	if (!process_aml) {
		process_aml = aml_new();
		if (!process_aml) {
			snprintf(err, errlen, "cannot create the VNC server's main loop");
			goto fail;
		}
		aml_set_default(process_aml);
	}
	s->aml = process_aml;
	nvnc_set_log_fn(log_from_neatvnc);
	nvnc_set_log_level(kb_debug_enabled() ? NVNC_LOG_DEBUG : NVNC_LOG_WARNING);
	errno = 0;
	s->nvnc = nvnc_open(o->host, (uint16_t)o->port);
	if (!s->nvnc) {
		int e = errno;
		snprintf(err, errlen, "cannot listen on %s%s%s:%u%s%s", strchr(o->host, ':') ? "[" : "",
			 o->host, strchr(o->host, ':') ? "]" : "", o->port, e ? ": " : "",
			 e ? strerror(e) : "");
		goto fail;
	}
	nvnc_set_userdata(s->nvnc, s, NULL);
	nvnc_set_name(s->nvnc, o->name && *o->name ? o->name : "kbhyve");
	s->ndisp = nvnc_display_new(0, 0);
	if (!s->ndisp) {
		snprintf(err, errlen, "cannot create the VNC display");
		goto fail;
	}
	nvnc_add_display(s->nvnc, s->ndisp);
	nvnc_set_key_fn(s->nvnc, on_key);
	nvnc_set_key_code_fn(s->nvnc, on_key_code);
	nvnc_set_pointer_fn(s->nvnc, on_pointer);
	nvnc_set_new_client_fn(s->nvnc, on_new_client);
	/* neatvnc refuses viewers until it holds a frame */
	refresh(s);
	s->refresh = evloop_add_timer(vm->ev, 0, 0, refresh, s);
	s->aml_watch = evloop_add_fd(vm->ev, aml_get_fd(s->aml), EPOLLIN, on_aml, s);
	if (!s->refresh || !s->aml_watch) {
		snprintf(err, errlen, "cannot watch the VNC server's descriptors");
		goto fail;
	}
	evloop_timer_set(s->refresh, 0, 0);
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
