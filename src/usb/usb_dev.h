/* SPDX-License-Identifier: BSD-2-Clause */
/* USB devices behind a host controller (the xHCI model, xhci.c), so that a device is written once
 * and plugs into any controller: its descriptors, its control requests and its interrupt
 * endpoints.
 *
 * A device model provides a struct usb_devemu (USB_EMUL(), found by name from the controller's
 * configuration) whose create() builds a struct usb_dev: descriptors (struct usb_desc) and
 * operations (struct usb_dev_ops). The generic layer here answers the standard requests of USB 2.0
 * chapter 9 from the descriptors (GET_DESCRIPTOR of the device, configuration and strings,
 * SET_ADDRESS, SET/GET_CONFIGURATION, SET/GET_INTERFACE, GET_STATUS, SET/CLEAR_FEATURE) and passes
 * everything else (class and vendor requests, descriptor types it does not know) to the model.
 *
 * Threads: the controller calls a device with its own lock held (hc->lock), from vCPU threads. A
 * device with input of its own (the console) takes the same lock (usb_dev_lock) around its state
 * and calls usb_dev_wakeup() when an IN endpoint has data, so that the controller completes a
 * transfer the guest left pending (NAK until then). */
#ifndef KB_USB_DEV_H
#define KB_USB_DEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/devset.h"

struct cfgnode;

/* Speeds, numbered as xHCI's default Protocol Speed IDs (PORTSC, slot context). */
enum usb_speed { USB_SPEED_FULL = 1, USB_SPEED_LOW = 2, USB_SPEED_HIGH = 3, USB_SPEED_SUPER = 4 };

/* A control request's SETUP packet (USB 2.0 9.3), in host order. */
struct usb_setup {
	uint8_t type;	 /* bmRequestType */
	uint8_t request; /* bRequest */
	uint16_t value, index, length;
};

#define USB_DIR_IN 0x80
#define USB_TYPE_MASK 0x60
#define USB_TYPE_STANDARD 0x00
#define USB_TYPE_CLASS 0x20
#define USB_TYPE_VENDOR 0x40
#define USB_RECIP_MASK 0x1f
#define USB_RECIP_DEVICE 0x00
#define USB_RECIP_INTERFACE 0x01
#define USB_RECIP_ENDPOINT 0x02

/* Standard requests (USB 2.0 table 9-4) */
#define USB_REQ_GET_STATUS 0x00
#define USB_REQ_CLEAR_FEATURE 0x01
#define USB_REQ_SET_FEATURE 0x03
#define USB_REQ_SET_ADDRESS 0x05
#define USB_REQ_GET_DESCRIPTOR 0x06
#define USB_REQ_SET_DESCRIPTOR 0x07
#define USB_REQ_GET_CONFIGURATION 0x08
#define USB_REQ_SET_CONFIGURATION 0x09
#define USB_REQ_GET_INTERFACE 0x0a
#define USB_REQ_SET_INTERFACE 0x0b
#define USB_REQ_SYNCH_FRAME 0x0c

/* Descriptor types */
#define USB_DT_DEVICE 0x01
#define USB_DT_CONFIG 0x02
#define USB_DT_STRING 0x03
#define USB_DT_INTERFACE 0x04
#define USB_DT_ENDPOINT 0x05
#define USB_DT_DEVICE_QUALIFIER 0x06
#define USB_DT_OTHER_SPEED_CONFIG 0x07

/* Features */
#define USB_FEAT_ENDPOINT_HALT 0
#define USB_FEAT_DEVICE_REMOTE_WAKEUP 1
#define USB_FEAT_TEST_MODE 2

/* Results besides byte counts */
#define USB_NAK (-1)   /* no data now: the transfer stays pending */
#define USB_STALL (-2) /* the request is refused, or the endpoint halted */

/* The data stage of a control transfer the device sees: longer IN requests get at most this
 * much (a short transfer), longer OUT data stages are cut. Descriptors are far shorter. */
#define USB_CTRL_MAX 1024

struct usb_dev;

/* What the controller gives a device: its lock and how to report data on an IN endpoint. */
struct usb_hc {
	pthread_mutex_t *lock;
	/* Endpoint `ep` (1-15, IN) of d has data; called with *lock held. */
	void (*wakeup)(void *opaque, struct usb_dev *d, unsigned ep);
	void *opaque;
};

struct usb_dev_ops {
	/* Requests the generic layer leaves to the device: class and vendor requests, standard
	 * GET_DESCRIPTOR of types it does not know (HID, report), other standard requests to an
	 * interface. IN (s->type & USB_DIR_IN): at most `len` bytes into data, return the count;
	 * OUT: data holds the `len` bytes of the data stage, return 0. USB_STALL refuses. NULL:
	 * everything stalls. */
	int (*request)(struct usb_dev *d, const struct usb_setup *s, uint8_t *data, unsigned len);
	/* An IN transfer on endpoint ep (1-15): at most `max` bytes into buf; the count (a short
	 * packet when less), USB_NAK or USB_STALL. NULL: IN endpoints stall. */
	int (*data_in)(struct usb_dev *d, unsigned ep, uint8_t *buf, unsigned max);
	/* An OUT transfer of `len` bytes on endpoint ep: 0, USB_NAK or USB_STALL. NULL: stall. */
	int (*data_out)(struct usb_dev *d, unsigned ep, const uint8_t *buf, unsigned len);
	/* Optional: bus reset (after the generic state was reset); the configuration changed
	 * (SET_CONFIGURATION, 0 = unconfigured). */
	void (*reset)(struct usb_dev *d);
	void (*configured)(struct usb_dev *d, uint8_t value);
	/* Free the device (without the controller's lock held). */
	void (*destroy)(struct usb_dev *d);
};

struct usb_desc {
	const uint8_t *device; /* 18 bytes */
	const uint8_t *config; /* configuration, interfaces, endpoints...: wTotalLength bytes */
	const char *const *strings; /* string descriptor i (1..nstrings) is strings[i - 1], ASCII */
	unsigned nstrings;
};

struct usb_dev {
	const char *name;
	const struct usb_dev_ops *ops;
	const struct usb_desc *desc;
	enum usb_speed speed;
	unsigned usbver; /* 2 or 3: the kind of root port it needs */
	struct usb_hc hc;
	/* the generic layer's state (under hc.lock) */
	uint8_t address, config;
	bool remote_wakeup;
	uint16_t halted_in, halted_out; /* bit n: endpoint n halted (SET_FEATURE) */
};

/* A control request: standard ones from the descriptors, the rest through ops->request. IN: at
 * most min(s->length, len) bytes into data, returns the count; OUT: data holds the data stage
 * (len bytes), returns 0. USB_STALL when refused. */
int usb_dev_control(struct usb_dev *d, const struct usb_setup *s, uint8_t *data, unsigned len);
/* Transfers on endpoint ep (1-15): USB_STALL while the endpoint is halted or the device does not
 * have it; else as ops->data_in / data_out. */
int usb_dev_data_in(struct usb_dev *d, unsigned ep, uint8_t *buf, unsigned max);
int usb_dev_data_out(struct usb_dev *d, unsigned ep, const uint8_t *buf, unsigned len);
/* Bus reset: address 0, unconfigured, no halts, remote wakeup off; then ops->reset. */
void usb_dev_reset(struct usb_dev *d);
/* The controller assigned the address (its Address Device command). */
void usb_dev_set_address(struct usb_dev *d, uint8_t address);
void usb_dev_destroy(struct usb_dev *d);

/* For the device's own threads: the controller's lock, and the data-ready call (lock held). */
void usb_dev_lock(struct usb_dev *d);
void usb_dev_unlock(struct usb_dev *d);
void usb_dev_wakeup(struct usb_dev *d, unsigned ep);

/* A device emulation, chosen by name in the controller's configuration. */
struct usb_devemu {
	const char *name;
	unsigned usbver; /* 2 or 3 */
	/* Check the keys of its configuration node (device=NAME and its own options) without
	 * creating anything: 0 or -EINVAL after one kb_log line. NULL: only device= is allowed. */
	int (*check)(struct cfgnode *node);
	/* Create it, attached to hc. 0 or -errno after one kb_log line. */
	int (*create)(struct cfgnode *node, const struct usb_hc *hc, struct usb_dev **out);
};
#define USB_EMUL(sym) DEVSET_ENTRY(usb_devemus, sym)

const struct usb_devemu *usb_emul_find(const char *name);
/* The names, comma separated, for error messages. */
const char *usb_emul_names(void);
/* Check a device node (pci.B.S.F.slot.N) with the emulation's check, or only device=. */
int usb_emul_check(const struct usb_devemu *ue, struct cfgnode *node);

#endif
