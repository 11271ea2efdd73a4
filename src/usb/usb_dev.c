/* SPDX-License-Identifier: BSD-2-Clause */
/* The generic part of a USB device (usb_dev.h): USB 2.0 chapter 9 standard requests answered
 * from the device's descriptors, endpoint halts, bus reset, and the device emulation registry. */
#include "usb/usb_dev.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/byteorder.h"
#include "core/log.h"

DEVSET_DECLARE(usb_devemus);

const struct usb_devemu *usb_emul_find(const char *name)
{
	const struct usb_devemu *e;
	DEVSET_FOREACH(usb_devemus, const struct usb_devemu *, e)
	if (strcmp(e->name, name) == 0)
		return e;
	return NULL;
}

const char *usb_emul_names(void)
{
	static char names[256];
	size_t n = 0;
	const struct usb_devemu *e;
	names[0] = '\0';
	DEVSET_FOREACH(usb_devemus, const struct usb_devemu *, e)
	{
		int w = snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "", e->name);
		if (w < 0 || (size_t)w >= sizeof(names) - n)
			break;
		n += (size_t)w;
	}
	return names;
}

int usb_emul_check(const struct usb_devemu *ue, struct cfgnode *node)
{
	if (ue->check)
		return ue->check(node);
	for (struct cfgnode *k = config_first_child(node); k; k = config_next_sibling(k))
		if (strcmp(config_name(k), "device") != 0) {
			kb_log("xhci: %s: unknown option '%s' (it takes none)", ue->name,
			       config_name(k));
			return -EINVAL;
		}
	return 0;
}

/* ---- locking and data-ready ---- */

void usb_dev_lock(struct usb_dev *d)
{
	pthread_mutex_lock(d->hc.lock);
}

void usb_dev_unlock(struct usb_dev *d)
{
	pthread_mutex_unlock(d->hc.lock);
}

void usb_dev_wakeup(struct usb_dev *d, unsigned ep)
{
	if (d->hc.wakeup)
		d->hc.wakeup(d->hc.opaque, d, ep);
}

/* ---- descriptors ---- */

static unsigned copy_out(uint8_t *data, unsigned len, const void *src, unsigned n)
{
	n = n < len ? n : len;
	memcpy(data, src, n);
	return n;
}

static int string_desc(const struct usb_desc *desc, unsigned idx, uint8_t *data, unsigned len)
{
	uint8_t s[2 + 2 * 126];
	unsigned n;
	if (idx == 0) {
		s[0] = 4;
		s[1] = USB_DT_STRING;
		put_le16(s + 2, 0x0409); /* English (United States) */
		n = 4;
	} else if (idx <= desc->nstrings && desc->strings[idx - 1]) {
		const char *str = desc->strings[idx - 1];
		n = 2;
		for (; *str && n + 2 <= sizeof(s); str++, n += 2)
			put_le16(s + n, (uint8_t)*str);
		s[0] = (uint8_t)n;
		s[1] = USB_DT_STRING;
	} else
		return USB_STALL;
	return (int)copy_out(data, len, s, n);
}

static int get_descriptor(struct usb_dev *d, const struct usb_setup *s, uint8_t *data, unsigned len)
{
	const struct usb_desc *desc = d->desc;
	unsigned type = s->value >> 8, idx = s->value & 0xff;
	switch (type) {
	case USB_DT_DEVICE:
		return (int)copy_out(data, len, desc->device, desc->device[0]);
	case USB_DT_CONFIG:
		if (idx != 0)
			return USB_STALL;
		return (int)copy_out(data, len, desc->config, le16_at(desc->config + 2));
	case USB_DT_STRING:
		return string_desc(desc, idx, data, len);
	case USB_DT_DEVICE_QUALIFIER:
	case USB_DT_OTHER_SPEED_CONFIG:
		/* these devices run at one speed only: a request error (USB 2.0 9.6.2) */
		return USB_STALL;
	default:
		return d->ops->request ? d->ops->request(d, s, data, len) : USB_STALL;
	}
}

/* The configuration descriptor's interfaces: whether `ifnum` exists, and whether endpoint
 * address `epaddr` (direction bit 7) belongs to the configuration. */
static bool config_has(const struct usb_desc *desc, int ifnum, int epaddr)
{
	const uint8_t *c = desc->config;
	unsigned total = le16_at(c + 2);
	for (unsigned at = 0; at + 2 <= total && c[at] >= 2; at += c[at]) {
		if (ifnum >= 0 && c[at + 1] == USB_DT_INTERFACE && at + 3 <= total &&
		    c[at + 2] == ifnum)
			return true;
		if (epaddr >= 0 && c[at + 1] == USB_DT_ENDPOINT && at + 3 <= total &&
		    c[at + 2] == epaddr)
			return true;
	}
	return false;
}

static uint16_t *halt_mask(struct usb_dev *d, unsigned epaddr)
{
	return (epaddr & USB_DIR_IN) ? &d->halted_in : &d->halted_out;
}

static int standard_request(struct usb_dev *d, const struct usb_setup *s, uint8_t *data,
			    unsigned len)
{
	unsigned recip = s->type & USB_RECIP_MASK;
	bool in = s->type & USB_DIR_IN;
	uint8_t b[2] = {0, 0};
	uint8_t cfgval = d->desc->config[5];
	switch (s->request) {
	case USB_REQ_GET_STATUS:
		if (!in)
			return USB_STALL;
		if (recip == USB_RECIP_DEVICE) {
			b[0] = (uint8_t)((d->desc->config[7] & 0x40 ? 1 : 0) |
					 (d->remote_wakeup ? 2 : 0));
		} else if (recip == USB_RECIP_INTERFACE) {
			if (!d->config || !config_has(d->desc, s->index & 0xff, -1))
				return USB_STALL;
		} else if (recip == USB_RECIP_ENDPOINT) {
			unsigned ep = s->index & 0x0f;
			if (ep != 0 && (!d->config || !config_has(d->desc, -1, s->index & 0x8f)))
				return USB_STALL;
			b[0] = ep && (*halt_mask(d, s->index) & (1u << ep)) ? 1 : 0;
		} else
			return USB_STALL;
		return (int)copy_out(data, len, b, 2);
	case USB_REQ_CLEAR_FEATURE:
	case USB_REQ_SET_FEATURE: {
		bool set = s->request == USB_REQ_SET_FEATURE;
		if (in)
			return USB_STALL;
		if (recip == USB_RECIP_DEVICE && s->value == USB_FEAT_DEVICE_REMOTE_WAKEUP) {
			if (set && !(d->desc->config[7] & 0x20))
				return USB_STALL; /* not a remote-wakeup device */
			d->remote_wakeup = set;
			return 0;
		}
		if (recip == USB_RECIP_ENDPOINT && s->value == USB_FEAT_ENDPOINT_HALT) {
			unsigned ep = s->index & 0x0f;
			if (ep == 0)
				return 0;
			if (!d->config || !config_has(d->desc, -1, s->index & 0x8f))
				return USB_STALL;
			uint16_t *m = halt_mask(d, s->index);
			*m = set ? (uint16_t)(*m | 1u << ep) : (uint16_t)(*m & ~(1u << ep));
			return 0;
		}
		return USB_STALL; /* test modes and unknown features */
	}
	case USB_REQ_SET_ADDRESS:
		if (in || recip != USB_RECIP_DEVICE || s->value > 127)
			return USB_STALL;
		d->address = (uint8_t)s->value;
		return 0;
	case USB_REQ_GET_DESCRIPTOR:
		if (!in)
			return USB_STALL;
		return get_descriptor(d, s, data, len);
	case USB_REQ_GET_CONFIGURATION:
		if (!in || recip != USB_RECIP_DEVICE)
			return USB_STALL;
		b[0] = d->config;
		return (int)copy_out(data, len, b, 1);
	case USB_REQ_SET_CONFIGURATION:
		if (in || recip != USB_RECIP_DEVICE)
			return USB_STALL;
		if (s->value != 0 && s->value != cfgval)
			return USB_STALL;
		d->config = (uint8_t)s->value;
		d->halted_in = d->halted_out = 0;
		if (d->ops->configured)
			d->ops->configured(d, d->config);
		return 0;
	case USB_REQ_GET_INTERFACE:
		if (!in || recip != USB_RECIP_INTERFACE || !d->config ||
		    !config_has(d->desc, s->index & 0xff, -1))
			return USB_STALL;
		return (int)copy_out(data, len, b, 1); /* alternate setting 0: the only one */
	case USB_REQ_SET_INTERFACE:
		if (in || recip != USB_RECIP_INTERFACE || !d->config || s->value != 0 ||
		    !config_has(d->desc, s->index & 0xff, -1))
			return USB_STALL;
		return 0;
	default: /* SET_DESCRIPTOR, SYNCH_FRAME, unknown */
		if (recip == USB_RECIP_INTERFACE && d->ops->request)
			return d->ops->request(d, s, data, len);
		return USB_STALL;
	}
}

int usb_dev_control(struct usb_dev *d, const struct usb_setup *s, uint8_t *data, unsigned len)
{
	if ((s->type & USB_DIR_IN) && len > s->length)
		len = s->length;
	int r;
	if ((s->type & USB_TYPE_MASK) == USB_TYPE_STANDARD)
		r = standard_request(d, s, data, len);
	else
		r = d->ops->request ? d->ops->request(d, s, data, len) : USB_STALL;
	if (r == USB_STALL)
		kb_debug("usb %s: request %02x %02x value %#x index %#x length %u stalled", d->name,
			 s->type, s->request, s->value, s->index, s->length);
	if (r >= 0 && !(s->type & USB_DIR_IN))
		r = 0;
	if (r > (int)len)
		r = (int)len;
	return r == USB_NAK ? USB_STALL : r; /* a control request cannot wait here */
}

int usb_dev_data_in(struct usb_dev *d, unsigned ep, uint8_t *buf, unsigned max)
{
	if (ep == 0 || ep > 15 || (d->halted_in & (1u << ep)) || !d->ops->data_in)
		return USB_STALL;
	int r = d->ops->data_in(d, ep, buf, max);
	return r > (int)max ? (int)max : r;
}

int usb_dev_data_out(struct usb_dev *d, unsigned ep, const uint8_t *buf, unsigned len)
{
	if (ep == 0 || ep > 15 || (d->halted_out & (1u << ep)) || !d->ops->data_out)
		return USB_STALL;
	int r = d->ops->data_out(d, ep, buf, len);
	return r > 0 ? 0 : r;
}

void usb_dev_reset(struct usb_dev *d)
{
	d->address = 0;
	d->config = 0;
	d->remote_wakeup = false;
	d->halted_in = d->halted_out = 0;
	if (d->ops->reset)
		d->ops->reset(d);
}

void usb_dev_set_address(struct usb_dev *d, uint8_t address)
{
	d->address = address;
}

void usb_dev_destroy(struct usb_dev *d)
{
	if (d && d->ops->destroy)
		d->ops->destroy(d);
}
