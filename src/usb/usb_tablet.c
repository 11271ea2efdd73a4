/* SPDX-License-Identifier: BSD-2-Clause */
/* USB HID tablet (bhyve's `tablet`): an absolute pointer for the console, so that the guest's
 * pointer lands where the viewer points. A USB 2.0 high-speed device (FB5D:0001), one
 * configuration with one HID interface (no boot protocol: subclass 0, protocol 0) and one
 * interrupt IN endpoint (EP 1, 8 bytes, every 1 ms at most).
 *
 * Its input report (6 bytes): buttons (bit 0 left, 1 right, 2 middle, 5 bits padding), X and Y
 * (16 bits each, absolute, 0..0x7FFF), wheel (8 bits, relative, -127..127). Class requests:
 * GET_REPORT (input), SET_REPORT (ignored), GET/SET_IDLE, GET/SET_PROTOCOL.
 *
 * The console's pointer sink (console_input.h, priority CONSOLE_PRIO_USB_TABLET, so it takes the
 * pointer from the PS/2 mouse) scales the position to the report's range and, when the report
 * changed, tells the controller that EP 1 has data: a transfer the guest left pending completes
 * then (until then the endpoint NAKs). Movements between two transfers merge into one report;
 * wheel steps add up. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/byteorder.h"
#include "core/log.h"
#include "input/console_input.h"
#include "usb/usb_dev.h"

#define TABLET_EP 1
#define TABLET_REPORT_LEN 6
#define TABLET_MAX 0x7fff

/* HID class requests (HID 1.11 7.2) and descriptor types */
#define HID_GET_REPORT 0x01
#define HID_GET_IDLE 0x02
#define HID_GET_PROTOCOL 0x03
#define HID_SET_REPORT 0x09
#define HID_SET_IDLE 0x0a
#define HID_SET_PROTOCOL 0x0b
#define HID_DT_HID 0x21
#define HID_DT_REPORT 0x22
#define HID_REPORT_INPUT 1

/* Report descriptor (HID 1.11 6.2.2), written for this device: a pointer in a mouse application
 * collection with 3 buttons, padding, absolute X/Y and a relative wheel. */
static const uint8_t report_desc[] = {
    0x05, 0x01,	      /* Usage Page (Generic Desktop) */
    0x09, 0x02,	      /* Usage (Mouse) */
    0xa1, 0x01,	      /* Collection (Application) */
    0x09, 0x01,	      /*   Usage (Pointer) */
    0xa1, 0x00,	      /*   Collection (Physical) */
    0x05, 0x09,	      /*     Usage Page (Button) */
    0x19, 0x01,	      /*     Usage Minimum (1) */
    0x29, 0x03,	      /*     Usage Maximum (3) */
    0x15, 0x00,	      /*     Logical Minimum (0) */
    0x25, 0x01,	      /*     Logical Maximum (1) */
    0x75, 0x01,	      /*     Report Size (1) */
    0x95, 0x03,	      /*     Report Count (3) */
    0x81, 0x02,	      /*     Input (Data, Variable, Absolute) */
    0x75, 0x05,	      /*     Report Size (5) */
    0x95, 0x01,	      /*     Report Count (1) */
    0x81, 0x03,	      /*     Input (Constant, Variable): padding */
    0x05, 0x01,	      /*     Usage Page (Generic Desktop) */
    0x09, 0x30,	      /*     Usage (X) */
    0x09, 0x31,	      /*     Usage (Y) */
    0x15, 0x00,	      /*     Logical Minimum (0) */
    0x26, 0xff, 0x7f, /*     Logical Maximum (32767) */
    0x35, 0x00,	      /*     Physical Minimum (0) */
    0x46, 0xff, 0x7f, /*     Physical Maximum (32767) */
    0x75, 0x10,	      /*     Report Size (16) */
    0x95, 0x02,	      /*     Report Count (2) */
    0x81, 0x02,	      /*     Input (Data, Variable, Absolute) */
    0x09, 0x38,	      /*     Usage (Wheel) */
    0x15, 0x81,	      /*     Logical Minimum (-127) */
    0x25, 0x7f,	      /*     Logical Maximum (127) */
    0x35, 0x00,	      /*     Physical Minimum (0) */
    0x45, 0x00,	      /*     Physical Maximum (0) */
    0x75, 0x08,	      /*     Report Size (8) */
    0x95, 0x01,	      /*     Report Count (1) */
    0x81, 0x06,	      /*     Input (Data, Variable, Relative) */
    0xc0,	      /*   End Collection */
    0xc0,	      /* End Collection */
};

static const uint8_t device_desc[18] = {
    18,		   /* bLength */
    USB_DT_DEVICE, /* bDescriptorType */
    0x00,	   /* bcdUSB 2.00 */
    0x02,	   /* (high byte) */
    0x00,	   /* bDeviceClass: per interface */
    0x00,	   /* bDeviceSubClass */
    0x00,	   /* bDeviceProtocol */
    64,		   /* bMaxPacketSize0 */
    0x5d,	   /* idVendor FB5D (as bhyve) */
    0xfb,	   /* (high byte) */
    0x01,	   /* idProduct 0001 */
    0x00,	   /* (high byte) */
    0x00,	   /* bcdDevice 1.00 */
    0x01,	   /* (high byte) */
    1,		   /* iManufacturer */
    2,		   /* iProduct */
    3,		   /* iSerialNumber */
    1,		   /* bNumConfigurations */
};

#define HID_DESC_AT 18 /* offset of the HID descriptor in config_desc */

static const uint8_t config_desc[34] = {
    /* configuration */
    9, USB_DT_CONFIG, 34, 0, /* wTotalLength */
    1,			     /* bNumInterfaces */
    1,			     /* bConfigurationValue */
    0,			     /* iConfiguration */
    0x80,		     /* bus powered, no remote wakeup */
    50,			     /* 100 mA */
    /* interface 0: HID, no boot protocol */
    9, USB_DT_INTERFACE, 0, 0, 1, 0x03, 0x00, 0x00, 0,
    /* HID descriptor: HID 1.11, one report descriptor */
    9, HID_DT_HID, 0x11, 0x01, 0, 1, HID_DT_REPORT, sizeof(report_desc) & 0xff,
    sizeof(report_desc) >> 8,
    /* endpoint 1 IN, interrupt, 8 bytes, bInterval 4 (2^3 microframes: 1 ms) */
    7, USB_DT_ENDPOINT, 0x80 | TABLET_EP, 0x03, 8, 0, 4};

static const char *const strings[] = {"kbhyve", "HID Tablet", "1"};

static const struct usb_desc tablet_desc = {
    .device = device_desc,
    .config = config_desc,
    .strings = strings,
    .nstrings = 3,
};

struct tablet {
	struct usb_dev dev; /* first: the usb_dev is the tablet */
	bool registered;
	/* under the controller's lock */
	uint16_t x, y;	  /* 0..TABLET_MAX */
	uint8_t buttons;  /* report bits */
	int wheel;	  /* steps not reported yet */
	uint8_t rfb_last; /* the viewer's previous button mask (wheel steps are presses) */
	bool changed;	  /* a report the guest has not read */
	uint8_t idle, protocol;
};

static void make_report(const struct tablet *t, uint8_t *r)
{
	int w = t->wheel < -127 ? -127 : t->wheel > 127 ? 127 : t->wheel;
	r[0] = t->buttons;
	put_le16(r + 1, t->x);
	put_le16(r + 3, t->y);
	r[5] = (uint8_t)(int8_t)w;
}

/* 0..size-1 to 0..TABLET_MAX, rounded to nearest, so that scaling back lands on the pixel. */
static uint16_t scale(unsigned v, unsigned size)
{
	if (size <= 1)
		return 0;
	if (v >= size)
		v = size - 1;
	return (uint16_t)(((uint64_t)v * TABLET_MAX + (size - 1) / 2) / (size - 1));
}

static void pointer_event(void *opaque, uint8_t rfb, unsigned x, unsigned y, unsigned width,
			  unsigned height)
{
	struct tablet *t = opaque;
	uint8_t buttons =
	    (uint8_t)((rfb & CONSOLE_BTN_LEFT ? 1 : 0) | (rfb & CONSOLE_BTN_RIGHT ? 2 : 0) |
		      (rfb & CONSOLE_BTN_MIDDLE ? 4 : 0));
	usb_dev_lock(&t->dev);
	uint16_t nx = scale(x, width), ny = scale(y, height);
	int steps = 0;
	if ((rfb & CONSOLE_BTN_WHEEL_UP) && !(t->rfb_last & CONSOLE_BTN_WHEEL_UP))
		steps++;
	if ((rfb & CONSOLE_BTN_WHEEL_DOWN) && !(t->rfb_last & CONSOLE_BTN_WHEEL_DOWN))
		steps--;
	t->rfb_last = rfb;
	if (nx != t->x || ny != t->y || buttons != t->buttons || steps) {
		t->x = nx;
		t->y = ny;
		t->buttons = buttons;
		if ((steps > 0 && t->wheel < 127) || (steps < 0 && t->wheel > -127))
			t->wheel += steps;
		t->changed = true;
		if (t->dev.config)
			usb_dev_wakeup(&t->dev, TABLET_EP);
	}
	usb_dev_unlock(&t->dev);
}

static int tablet_request(struct usb_dev *d, const struct usb_setup *s, uint8_t *data, unsigned len)
{
	struct tablet *t = (struct tablet *)d;
	uint8_t r[TABLET_REPORT_LEN];
	unsigned n;
	if ((s->type & USB_RECIP_MASK) != USB_RECIP_INTERFACE || (s->index & 0xff) != 0)
		return USB_STALL;
	if ((s->type & USB_TYPE_MASK) == USB_TYPE_STANDARD) {
		if (s->request != USB_REQ_GET_DESCRIPTOR || !(s->type & USB_DIR_IN))
			return USB_STALL;
		if (s->value == HID_DT_REPORT << 8) {
			n = sizeof(report_desc) < len ? sizeof(report_desc) : len;
			memcpy(data, report_desc, n);
		} else if (s->value == HID_DT_HID << 8) {
			n = 9 < len ? 9 : len;
			memcpy(data, config_desc + HID_DESC_AT, n);
		} else
			return USB_STALL;
		return (int)n;
	}
	if ((s->type & USB_TYPE_MASK) != USB_TYPE_CLASS)
		return USB_STALL;
	bool in = s->type & USB_DIR_IN;
	switch (s->request) {
	case HID_GET_REPORT:
		if (!in || s->value >> 8 != HID_REPORT_INPUT || (s->value & 0xff) != 0)
			return USB_STALL;
		make_report(t, r);
		n = TABLET_REPORT_LEN < len ? TABLET_REPORT_LEN : len;
		memcpy(data, r, n);
		return (int)n;
	case HID_SET_REPORT:
		return in ? USB_STALL : 0; /* no output or feature reports: ignored */
	case HID_GET_IDLE:
		if (!in || len < 1)
			return in ? 0 : USB_STALL;
		data[0] = t->idle;
		return 1;
	case HID_SET_IDLE:
		if (in)
			return USB_STALL;
		t->idle = (uint8_t)(s->value >> 8); /* reports go out on change only anyway */
		return 0;
	case HID_GET_PROTOCOL:
		if (!in || len < 1)
			return in ? 0 : USB_STALL;
		data[0] = t->protocol;
		return 1;
	case HID_SET_PROTOCOL:
		if (in || s->value > 1)
			return USB_STALL;
		t->protocol = (uint8_t)s->value;
		return 0;
	default:
		return USB_STALL;
	}
}

static int tablet_data_in(struct usb_dev *d, unsigned ep, uint8_t *buf, unsigned max)
{
	struct tablet *t = (struct tablet *)d;
	if (ep != TABLET_EP)
		return USB_STALL;
	if (!d->config || !t->changed)
		return USB_NAK;
	uint8_t r[TABLET_REPORT_LEN];
	make_report(t, r);
	unsigned n = max < sizeof(r) ? max : (unsigned)sizeof(r);
	memcpy(buf, r, n);
	t->changed = false;
	t->wheel = 0;
	return (int)n;
}

static void tablet_reset(struct usb_dev *d)
{
	struct tablet *t = (struct tablet *)d;
	t->idle = 0;
	t->protocol = 1; /* report protocol */
	t->wheel = 0;
	t->changed = false;
}

static void tablet_destroy(struct usb_dev *d)
{
	struct tablet *t = (struct tablet *)d;
	if (t->registered)
		console_input_unregister(t);
	free(t);
}

static const struct usb_dev_ops tablet_ops = {
    .request = tablet_request,
    .data_in = tablet_data_in,
    .reset = tablet_reset,
    .destroy = tablet_destroy,
};

static int tablet_create(struct cfgnode *node, const struct usb_hc *hc, struct usb_dev **out)
{
	struct tablet *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->dev.name = "tablet";
	t->dev.ops = &tablet_ops;
	t->dev.desc = &tablet_desc;
	t->dev.speed = USB_SPEED_HIGH;
	t->dev.usbver = 2;
	t->dev.hc = *hc;
	t->x = t->y = TABLET_MAX / 2;
	usb_dev_reset(&t->dev);
	int rc = console_ptr_register(pointer_event, t, CONSOLE_PRIO_USB_TABLET);
	if (rc < 0) {
		kb_log("xhci: tablet: cannot take the console pointer: %s", strerror(-rc));
		free(t);
		return rc;
	}
	t->registered = true;
	*out = &t->dev;
	return 0;
}

static const struct usb_devemu tablet_emu = {
    .name = "tablet",
    .usbver = 2,
    .create = tablet_create,
};
USB_EMUL(tablet_emu);
