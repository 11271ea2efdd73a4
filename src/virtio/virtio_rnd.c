/* SPDX-License-Identifier: BSD-2-Clause */
/* virtio-rnd: the entropy device (virtio 1.x "Entropy Device"), bhyve's `-s S,virtio-rnd`.
 *
 * One request queue. Every chain the driver makes available is a set of device-writable buffers;
 * the device fills them with bytes from the host kernel's CSPRNG (getrandom(2), never blocking
 * once the pool is initialised, which init checks) and returns them with the byte count. A chain
 * with device-readable buffers or without writable space breaks the protocol and stops the
 * device until the driver resets it.
 *
 * Bounds: at most VTRND_MAX_REQUEST bytes per request (the spec lets the device write fewer
 * bytes than offered) and VTRND_KICK_BUDGET requests per run. Requests beyond that budget are
 * served by a one-shot timer on the event loop rather than in a loop here; they cannot wait for
 * another kick, because with EVENT_IDX a driver that added them while the device was working
 * may have been told not to kick.
 *
 * PCI class 0x100000 (encryption controller, "network and computing"): what bhyve gives its
 * virtio-rnd, so a guest sees the same device under kbhyve as under bhyve; virtio drivers bind
 * by vendor/device ID and ignore the class. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define VTRND_QUEUE_SIZE 64
#define VTRND_MAX_REQUEST (64 * 1024)
#define VTRND_KICK_BUDGET 32
/* Delay before the event loop continues a kick that exhausted its budget. */
#define VTRND_CONTINUE_MS 1

struct vtrnd {
	struct virtio_dev vd;
	struct vm *vm;
	struct evloop_handle *more; /* one-shot continuation timer, NULL when none */
	struct vq_chain chain;	    /* scratch for vq_pop (large: kept off the stack) */
};

/* Fill `len` bytes from the host CSPRNG. Returns the bytes produced (short only on an error
 * that init's check makes practically impossible; it is logged at debug level). */
static size_t fill_random(uint8_t *p, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = getrandom(p + done, len - done, GRND_NONBLOCK);
		if (n > 0) {
			done += (size_t)n;
		} else if (n < 0 && errno != EINTR) {
			kb_debug("virtio-rnd: getrandom: %s", strerror(errno));
			break;
		}
	}
	return done;
}

static void schedule_more(struct vtrnd *r);

/* Serve the request queue: called with the device lock held. */
static void vtrnd_process(struct vtrnd *r)
{
	struct virtio_dev *vd = &r->vd;
	struct virtqueue *vq = &vd->vq[0];
	bool pushed = false;
	char err[160];

	if (!vd->started || (vd->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	for (int budget = VTRND_KICK_BUDGET; budget > 0; budget--) {
		int rc = vq_pop(vq, &r->chain, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc < 0) {
			virtio_set_needs_reset(vd, err);
			break;
		}
		struct vq_chain *c = &r->chain;
		if (c->nread) {
			snprintf(err, sizeof(err),
				 "request %u has %u device-readable buffer(s) (%llu bytes)",
				 c->head, c->nread, (unsigned long long)c->read_len);
			virtio_set_needs_reset(vd, err);
			break;
		}
		if (c->write_len == 0) {
			snprintf(err, sizeof(err), "request %u has no writable space", c->head);
			virtio_set_needs_reset(vd, err);
			break;
		}
		size_t want =
		    c->write_len < VTRND_MAX_REQUEST ? (size_t)c->write_len : VTRND_MAX_REQUEST;
		size_t written = 0;
		for (unsigned i = c->nread; i < c->nread + c->nwrite && written < want; i++) {
			size_t seg = c->iov[i].iov_len;
			if (seg > want - written)
				seg = want - written;
			size_t got = fill_random(c->iov[i].iov_base, seg);
			written += got;
			if (got < seg)
				break;
		}
		vq_push(vq, c->head, (uint32_t)written);
		pushed = true;
	}
	if (pushed)
		virtio_interrupt_queue(vd, 0);
	if (vq_has_work(vq) && !(vd->status & VIRTIO_STATUS_NEEDS_RESET))
		schedule_more(r);
}

static void continue_timer(void *opaque)
{
	struct vtrnd *r = opaque;
	virtio_lock(&r->vd);
	/* on the loop thread: safe to delete the handle whose callback this is */
	evloop_del(r->vm->ev, r->more);
	r->more = NULL;
	vtrnd_process(r);
	virtio_unlock(&r->vd);
}

static void schedule_more(struct vtrnd *r)
{
	if (r->more || !r->vm || !r->vm->ev)
		return;
	r->more = evloop_add_timer(r->vm->ev, VTRND_CONTINUE_MS, 0, continue_timer, r);
	if (!r->more)
		kb_debug("virtio-rnd: no continuation timer; waiting for the next kick");
}

static void vtrnd_notify(struct virtio_dev *vd, int q)
{
	if (q == 0)
		vtrnd_process(vd->priv);
}

static const struct virtio_dev_ops vtrnd_ops = {
    .name = "virtio-rnd",
    .device_id = VIRTIO_ID_RNG,
    .pci_class = 0x100000,
    .nqueues = 1,
    .queue_size = VTRND_QUEUE_SIZE,
    .features = 0,
    .config_size = 0,
    .notify = vtrnd_notify,
};

/* Registered before the transport's own hook, so it runs after it (last registered first):
 * the transport no longer touches the device when this frees it. */
static void vtrnd_destroy(void *opaque)
{
	struct vtrnd *r = opaque;
	if (r->more)
		evloop_del(r->vm->ev, r->more);
	free(r);
}

/* bhyve's virtio-rnd has no options; refuse any rather than silently ignore a typo. */
static int vtrnd_legacy_config(struct cfgnode *devnode, const char *opts)
{
	if (opts && *opts) {
		kb_log("virtio-rnd: takes no options (got '%s')", opts);
		return -EINVAL;
	}
	return 0;
}

static int vtrnd_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	for (struct cfgnode *n = config_first_child(devnode); n; n = config_next_sibling(n)) {
		if (strcmp(config_name(n), "device") != 0) {
			kb_log("virtio-rnd: takes no options (unexpected setting '%s')",
			       config_name(n));
			return -EINVAL;
		}
	}
	/* As bhyve checks that /dev/random is seeded: a request must never block the loop. */
	uint8_t probe;
	if (getrandom(&probe, 1, GRND_NONBLOCK) != 1) {
		kb_log("virtio-rnd: host random pool not available: %s", strerror(errno));
		return -EAGAIN;
	}
	struct vtrnd *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->vm = vm;
	r->vd.ops = &vtrnd_ops;
	r->vd.priv = r;
	r->vd.config = NULL;
	int rc = vm_at_destroy(vm, vtrnd_destroy, r);
	if (rc) {
		free(r);
		return rc;
	}
	/* on failure the destroy hook frees r once the transport has let go of it */
	return virtio_pci_create(vm, pd, &r->vd);
}

static const struct pci_devemu vtrnd_emu = {
    .name = "virtio-rnd",
    .legacy_config = vtrnd_legacy_config,
    .init = vtrnd_init,
    VIRTIO_PCI_HOOKS,
};
PCI_EMUL(vtrnd_emu);
