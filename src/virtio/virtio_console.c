/* SPDX-License-Identifier: BSD-2-Clause */
/* virtio-console: bhyve's multiport character device (virtio 1.x "Console Device") with each
 * port behind a unix stream socket.
 *
 *   -s S,virtio-console,NAME=/path/sock[,NAME=/path/sock...]     (at most 16 ports)
 *   config: pci.B.S.F.port.N.name, pci.B.S.F.port.N.path          (N = port number 0..15)
 *
 * As in bhyve, the key before '=' is the port's name (what the guest sees in
 * /sys/class/virtio-ports/vportXpN/name and udev turns into /dev/virtio-ports/NAME), and ports
 * are numbered in the order given. The ports are plain data ports, never consoles (bhyve has no
 * console port and no resize).
 *
 * Queues (VIRTIO_CONSOLE_F_MULTIPORT): port 0 uses receiveq 0 and transmitq 1, the control
 * receiveq/transmitq are 2 and 3, port N >= 1 uses 2N+2 and 2N+3. max_nr_ports is the highest
 * configured port number + 1, so the device has only the queues it needs.
 *
 * Control protocol: on DEVICE_READY the device announces every port with PORT_ADD; on the
 * driver's PORT_READY it sends PORT_NAME, and PORT_OPEN(1) if a client is connected; connects
 * and disconnects later send PORT_OPEN(1/0). The driver's PORT_OPEN says whether a guest program
 * has the port open. Messages from the driver are checked: a message that is not exactly one
 * struct virtio_console_control (8 bytes, device-readable) makes the device NEEDS_RESET; an
 * unknown event, a port that does not exist or a value other than 0/1 is logged (a few times,
 * then only at debug level) and ignored, as the spec lets a device do. Messages for the driver
 * wait in a small queue (one entry per port and event) until it posts control buffers.
 *
 * Sockets: each port listens at its path (created at start with mode 0600; an existing socket
 * nobody listens on is replaced; any other file, or a live socket, is refused). One client at a
 * time: a second one is accepted and closed at once. bhyve leaves its socket files behind; this
 * device removes them when the VM is destroyed (only if the path is still the socket it made).
 *
 * Data: guest output is written to the client without blocking; when the client does not keep
 * up the transmit chain waits (the guest's writes block) until the socket drains. Without a
 * client guest output is dropped and counted. The driver learns of every connect and disconnect
 * (PORT_OPEN 1/0), so a Linux guest's writes block while no client is connected, as under QEMU
 * (bhyve never reports a disconnect: its guests keep writing into the void). Client input is
 * read only while the guest has the port open and has posted receive buffers, so it waits in
 * the socket (and the client blocks) otherwise, instead of being read and thrown away. A client
 * that sent data and hung up keeps its place until the guest has read the data (or until another
 * client connects). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/hostpath.h"
#include "core/log.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define VTCON_MAX_PORTS 16
#define VTCON_QUEUE_SIZE 64
#define VTCON_NAME_MAX 255
#define VTCON_F_MULTIPORT (1ULL << 1)
#define VTCON_CTRL_RXQ 2 /* control receiveq: device -> driver */
#define VTCON_CTRL_TXQ 3 /* control transmitq: driver -> device */
/* Pending messages for the driver: one per (port, event), so this bound is never reached by a
 * driver that follows the protocol. */
#define VTCON_PENDING_MAX 64
/* Chains one queue is served per run; the rest by a one-shot timer (see schedule_more). */
#define VTCON_KICK_BUDGET 32
#define VTCON_MORE_MS 1
/* Log lines a guest can cause before the rest go to debug level. */
/* Segments handed to one sendmsg(). */
#define VTCON_SEND_IOV 64

/* Control events (virtio 1.x 5.3.6.2) */
enum {
	VTCON_DEVICE_READY = 0,
	VTCON_PORT_ADD = 1,
	VTCON_PORT_REMOVE = 2,
	VTCON_PORT_READY = 3,
	VTCON_CONSOLE_PORT = 4,
	VTCON_RESIZE = 5,
	VTCON_PORT_OPEN = 6,
	VTCON_PORT_NAME = 7,
};

/* struct virtio_console_control, little-endian in guest memory as on the host */
struct vtcon_ctrl {
	uint32_t id;
	uint16_t event;
	uint16_t value;
} __attribute__((packed));
_Static_assert(sizeof(struct vtcon_ctrl) == 8, "virtio_console_control is 8 bytes");

struct vtcon;

struct vtcon_port {
	struct vtcon *con;
	uint32_t id;
	bool configured;
	char name[VTCON_NAME_MAX + 1];
	char *path;
	/* listening socket */
	int listen_fd;
	struct evloop_handle *listen_h;
	dev_t sock_dev;
	ino_t sock_ino;
	bool sock_created;
	/* the client */
	int client_fd;
	struct evloop_handle *client_h; /* NULL while a hung-up client waits for the guest */
	uint32_t client_events;
	bool client_eof; /* the client will send nothing more */
	bool client_hup; /* the client is gone (nothing can be written to it) */
	/* guest side */
	bool guest_ready; /* the driver added the port (PORT_READY 1) */
	bool guest_open;  /* a guest program has the port open */
	/* guest output waiting for the client to drain */
	struct vq_chain *tx;
	bool tx_busy;
	bool tx_irq; /* chains went back to the guest: interrupt (see settle) */
	uint64_t tx_off;
	uint64_t tx_dropped; /* guest output bytes dropped (no client, or it went away) */
};

struct vtcon {
	struct virtio_dev vd;
	struct virtio_dev_ops ops; /* per device: the queue count depends on the ports */
	struct vm *vm;
	uint8_t config[12]; /* cols, rows, max_nr_ports, emerg_wr */
	uint32_t max_ports;
	struct vtcon_port ports[VTCON_MAX_PORTS];
	bool driver_ready;
	struct vtcon_ctrl pending[VTCON_PENDING_MAX];
	unsigned npending;
	struct kb_ratelimit warn_log; /* guest_warn */
	struct evloop_handle *more;   /* continuation timer, NULL when none */
	uint64_t more_queues;	      /* queues it serves */
	struct vq_chain chain;	      /* scratch for the control and receive queues */
};

static int port_rxq(uint32_t id)
{
	return id == 0 ? 0 : (int)(2 * id + 2);
}
static int port_txq(uint32_t id)
{
	return id == 0 ? 1 : (int)(2 * id + 3);
}

static void guest_warn(struct vtcon *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A problem the guest caused: rate-limited (kb_guest_log). */
static void guest_warn(struct vtcon *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kb_guest_log(&c->warn_log, "virtio-console: %s", msg);
}

static bool multiport(const struct vtcon *c)
{
	return c->vd.features & VTCON_F_MULTIPORT;
}

/* Queue work is allowed: the driver is running and the device is not waiting for a reset. */
static bool live(const struct vtcon *c)
{
	return c->vd.started && !(c->vd.status & VIRTIO_STATUS_NEEDS_RESET);
}

static struct vtcon_port *port_by_id(struct vtcon *c, uint32_t id)
{
	if (id >= c->max_ports || !c->ports[id].configured)
		return NULL;
	return &c->ports[id];
}

static void more_timer(void *opaque);

/* Queue q still has chains after a run used up its budget. They are served from a one-shot
 * timer on the event loop, not by waiting for a kick: with EVENT_IDX, a driver that added them
 * while the device was working may have been told not to kick. */
static void schedule_more(struct vtcon *c, int q)
{
	c->more_queues |= 1ULL << q;
	if (!c->more) {
		c->more = evloop_add_timer(c->vm->ev, VTCON_MORE_MS, 0, more_timer, c);
		if (!c->more)
			kb_debug(
			    "virtio-console: no continuation timer; waiting for the next kick");
	}
}

/* ---- configuration ---- */

static bool name_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-' || ch == ':';
}

/* Port names end up as file names under /dev/virtio-ports in the guest. */
static int check_name(const char *name, char *err, size_t errlen, const char *where)
{
	size_t len = strlen(name);
	if (len == 0 || len > VTCON_NAME_MAX) {
		snprintf(err, errlen, "%s: port name must be 1 to %d characters", where,
			 VTCON_NAME_MAX);
		return -EINVAL;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen, "%s: port name '%s' is not allowed", where, name);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!name_char_ok(name[i])) {
			snprintf(err, errlen,
				 "%s: port name '%s' has a character other than letters, digits, "
				 "'.', '_', '-' and ':'",
				 where, name);
			return -EINVAL;
		}
	}
	return 0;
}

/* Read and check pci.B.S.F.port.* into ports[] (names and paths set, configured marked);
 * *max_ports = highest port number + 1 (at least 1). 0 or -EINVAL with the problem in err. */
static int parse_ports(struct cfgnode *devnode, struct vtcon_port *ports, uint32_t *max_ports,
		       char *err, size_t errlen)
{
	struct sockaddr_un sa;
	uint32_t max = 1;
	struct cfgnode *pn = config_node(devnode, "port");

	if (pn && config_is_leaf(pn)) {
		snprintf(err, errlen, "port: expected port.N.name and port.N.path settings");
		return -EINVAL;
	}
	for (struct cfgnode *n = pn ? config_first_child(pn) : NULL; n;
	     n = config_next_sibling(n)) {
		const char *num = config_name(n);
		char *end;
		long id = strtol(num, &end, 10);
		if (!*num || *end || num[0] == '-' || num[0] == '+' || id < 0 ||
		    id >= VTCON_MAX_PORTS || (num[0] == '0' && num[1])) {
			snprintf(err, errlen, "port.%s: port numbers are 0 to %d", num,
				 VTCON_MAX_PORTS - 1);
			return -EINVAL;
		}
		if (config_is_leaf(n)) {
			snprintf(err, errlen, "port.%s: expected port.%s.name and port.%s.path",
				 num, num, num);
			return -EINVAL;
		}
		const char *name = NULL, *path = NULL;
		for (struct cfgnode *k = config_first_child(n); k; k = config_next_sibling(k)) {
			const char *key = config_name(k);
			const char *val = config_is_leaf(k) ? config_value(k) : NULL;
			if (strcmp(key, "name") == 0 && val) {
				name = val;
			} else if (strcmp(key, "path") == 0 && val) {
				path = val;
			} else {
				snprintf(err, errlen,
					 "port.%s.%s: unknown setting (a port has name "
					 "and path)",
					 num, key);
				return -EINVAL;
			}
		}
		char where[32];
		snprintf(where, sizeof(where), "port.%ld", id);
		if (!name) {
			snprintf(err, errlen, "%s: no name (%s.name)", where, where);
			return -EINVAL;
		}
		if (!path || !*path) {
			snprintf(err, errlen, "port %s: no socket path (%s.path)", name, where);
			return -EINVAL;
		}
		if (check_name(name, err, errlen, where))
			return -EINVAL;
		if (strlen(path) >= sizeof(sa.sun_path)) {
			snprintf(err, errlen, "port %s: socket path longer than %zu bytes: %s",
				 name, sizeof(sa.sun_path) - 1, path);
			return -EINVAL;
		}
		for (int j = 0; j < VTCON_MAX_PORTS; j++) {
			if (!ports[j].configured)
				continue;
			if (strcmp(ports[j].name, name) == 0) {
				snprintf(err, errlen, "port.%d and port.%ld are both named '%s'", j,
					 id, name);
				return -EINVAL;
			}
			if (strcmp(ports[j].path, path) == 0) {
				snprintf(err, errlen, "ports %s and %s use the same socket path %s",
					 ports[j].name, name, path);
				return -EINVAL;
			}
		}
		struct vtcon_port *p = &ports[id];
		p->path = strdup(path);
		if (!p->path) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->configured = true;
		if ((uint32_t)id + 1 > max)
			max = (uint32_t)id + 1;
	}
	*max_ports = max;
	return 0;
}

static void free_port_paths(struct vtcon_port *ports)
{
	for (int i = 0; i < VTCON_MAX_PORTS; i++) {
		free(ports[i].path);
		ports[i].path = NULL;
	}
}

/* bhyve's syntax: NAME=PATH items, numbered 0, 1, ... in order. */
static int vtcon_legacy_config(struct cfgnode *devnode, const char *opts)
{
	if (!opts || !*opts)
		return 0;
	char *copy = strdup(opts);
	if (!copy)
		return -ENOMEM;
	int rc = 0, n = 0;
	char *rest = copy, *item;
	while ((item = strsep(&rest, ",")) != NULL) {
		char *eq = strchr(item, '=');
		if (!eq || eq == item) {
			kb_log(
			    "virtio-console: '%s': expected NAME=PATH (a port name and its socket)",
			    item);
			rc = -EINVAL;
			break;
		}
		if (n >= VTCON_MAX_PORTS) {
			kb_log("virtio-console: too many ports (at most %d)", VTCON_MAX_PORTS);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		char key[32];
		snprintf(key, sizeof(key), "port.%d.name", n);
		rc = config_set(devnode, key, item);
		snprintf(key, sizeof(key), "port.%d.path", n);
		if (!rc)
			rc = config_set(devnode, key, eq + 1);
		if (rc) {
			kb_log("virtio-console: cannot set port %d: %s", n, strerror(-rc));
			break;
		}
		n++;
	}
	free(copy);
	if (rc)
		return rc;
	/* the same checks as at start-up, so a bad command line fails while it is parsed */
	struct vtcon_port ports[VTCON_MAX_PORTS];
	uint32_t max;
	char err[1024];
	memset(ports, 0, sizeof(ports));
	rc = parse_ports(devnode, ports, &max, err, sizeof(err));
	free_port_paths(ports);
	if (rc)
		kb_log("virtio-console: %s", err);
	return rc;
}

/* ---- messages for the driver (control receiveq) ---- */

static void ctrl_flush(struct vtcon *c)
{
	struct virtio_dev *vd = &c->vd;
	struct virtqueue *vq = &vd->vq[VTCON_CTRL_RXQ];
	bool pushed = false;
	char err[160];

	if (!live(c) || !multiport(c))
		return;
	while (c->npending) {
		int rc = vq_pop(vq, &c->chain, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc < 0) {
			virtio_set_needs_reset(vd, err);
			break;
		}
		const struct vtcon_ctrl *m = &c->pending[0];
		uint8_t buf[sizeof(struct vtcon_ctrl) + VTCON_NAME_MAX];
		size_t len = sizeof(*m);
		memcpy(buf, m, sizeof(*m));
		if (m->event == VTCON_PORT_NAME) {
			const char *name = c->ports[m->id].name;
			size_t nl = strlen(name);
			memcpy(buf + len, name, nl);
			len += nl;
		}
		if (c->chain.nread || c->chain.write_len < len) {
			snprintf(err, sizeof(err),
				 "control receive buffer %u (%llu writable bytes, %u readable "
				 "segments) cannot take a %zu-byte message",
				 c->chain.head, (unsigned long long)c->chain.write_len,
				 c->chain.nread, len);
			virtio_set_needs_reset(vd, err);
			break;
		}
		vq_chain_write(&c->chain, 0, buf, len);
		vq_push(vq, c->chain.head, (uint32_t)len);
		pushed = true;
		c->npending--;
		memmove(&c->pending[0], &c->pending[1], c->npending * sizeof(c->pending[0]));
	}
	if (pushed)
		virtio_interrupt_queue(vd, VTCON_CTRL_RXQ);
}

/* Queue a message for the driver; a message for the same port and event that has not gone out
 * yet is updated instead (the driver only needs the latest state). */
static void ctrl_send(struct vtcon *c, uint32_t id, uint16_t event, uint16_t value)
{
	if (!multiport(c))
		return;
	for (unsigned i = 0; i < c->npending; i++) {
		if (c->pending[i].id == id && c->pending[i].event == event) {
			c->pending[i].value = value;
			ctrl_flush(c);
			return;
		}
	}
	if (c->npending == VTCON_PENDING_MAX) {
		guest_warn(c, "driver takes no control messages; dropped event %u for port %u",
			   event, id);
		return;
	}
	c->pending[c->npending++] = (struct vtcon_ctrl){.id = id, .event = event, .value = value};
	ctrl_flush(c);
}

/* ---- the client connection ---- */

static void client_event(int fd, uint32_t events, void *opaque);

/* The guest can take client input now. */
static bool can_receive(struct vtcon_port *p)
{
	struct vtcon *c = p->con;
	struct virtqueue *vq = &c->vd.vq[port_rxq(p->id)];
	return live(c) && p->guest_open && vq_has_work(vq);
}

/* Watch the client for what the port can do now. */
static void update_events(struct vtcon_port *p)
{
	struct vtcon *c = p->con;
	if (p->client_fd < 0)
		return;
	uint32_t want = 0;
	if (!p->client_eof && can_receive(p))
		want |= EPOLLIN;
	if (p->tx_busy && !p->client_hup)
		want |= EPOLLOUT;
	if (p->client_hup && !want) {
		/* a hung-up socket is always ready: stop watching until the guest can read */
		if (p->client_h) {
			evloop_del(c->vm->ev, p->client_h);
			p->client_h = NULL;
		}
		return;
	}
	if (!p->client_h) {
		p->client_h = evloop_add_fd(c->vm->ev, p->client_fd, want, client_event, p);
		if (!p->client_h)
			kb_log("virtio-console: port %s: cannot watch the client", p->name);
		p->client_events = want;
	} else if (want != p->client_events) {
		if (evloop_modify(c->vm->ev, p->client_h, want) == 0)
			p->client_events = want;
	}
}

/* Give the transmit chain in progress back to the guest, its unsent rest dropped. A device
 * waiting for a reset (NEEDS_RESET) returns nothing: the chain is dropped, and the reset
 * forgets it. */
static void tx_finish(struct vtcon_port *p)
{
	struct vtcon *c = p->con;
	if (!p->tx_busy)
		return;
	p->tx_dropped += p->tx->read_len - p->tx_off;
	p->tx_busy = false;
	if (!live(c))
		return;
	vq_push(&c->vd.vq[port_txq(p->id)], p->tx->head, 0);
	p->tx_irq = true;
}

static void disconnect(struct vtcon_port *p)
{
	struct vtcon *c = p->con;
	if (p->client_fd < 0)
		return;
	tx_finish(p);
	if (p->client_h)
		evloop_del(c->vm->ev, p->client_h);
	close(p->client_fd);
	p->client_fd = -1;
	p->client_h = NULL;
	p->client_events = 0;
	p->client_eof = p->client_hup = false;
	kb_debug("virtio-console: port %s: client disconnected", p->name);
	if (c->driver_ready && p->guest_ready)
		ctrl_send(c, p->id, VTCON_PORT_OPEN, 0);
}

/* A client that is gone and has nothing left to read is closed; otherwise it is watched for
 * what the port can do now. */
static void settle_client(struct vtcon_port *p)
{
	if (p->client_hup && !p->client_eof) {
		int unread = 0;
		if (ioctl(p->client_fd, FIONREAD, &unread) < 0 || unread <= 0)
			p->client_eof = true;
	}
	if (p->client_hup && p->client_eof)
		disconnect(p);
	else
		update_events(p);
}

/* After any change to a port: settle its client, then one interrupt for the transmit chains
 * returned to the guest meanwhile. */
static void settle(struct vtcon_port *p)
{
	if (p->client_fd >= 0)
		settle_client(p);
	if (p->tx_irq) {
		p->tx_irq = false;
		virtio_interrupt_queue(&p->con->vd, port_txq(p->id));
	}
}

/* Send the transmit chain in progress from tx_off on. Returns true when it is done (sent or
 * dropped), false when the client's socket is full. */
static bool tx_send(struct vtcon_port *p)
{
	const struct vq_chain *ch = p->tx;
	while (p->tx_off < ch->read_len) {
		/* nothing more from guest memory once the device waits for a reset */
		if (p->client_fd < 0 || p->client_hup || !live(p->con))
			break;
		struct iovec iov[VTCON_SEND_IOV];
		int n = 0;
		uint64_t skip = p->tx_off;
		for (unsigned i = 0; i < ch->nread && n < VTCON_SEND_IOV; i++) {
			if (skip >= ch->iov[i].iov_len) {
				skip -= ch->iov[i].iov_len;
				continue;
			}
			iov[n].iov_base = (uint8_t *)ch->iov[i].iov_base + skip;
			iov[n].iov_len = ch->iov[i].iov_len - skip;
			skip = 0;
			n++;
		}
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(p->client_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p->tx_off += (uint64_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return false;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else {
			kb_debug("virtio-console: port %s: write to client: %s", p->name,
				 w < 0 ? strerror(errno) : "nothing written");
			p->client_hup = true;
		}
	}
	tx_finish(p);
	return true;
}

/* Guest output on the port's transmitq. */
static void tx_process(struct vtcon_port *p)
{
	struct vtcon *c = p->con;
	struct virtio_dev *vd = &c->vd;
	int q = port_txq(p->id);
	struct virtqueue *vq = &vd->vq[q];
	char err[160];

	if (!live(c) || p->tx_busy)
		return;
	int budget;
	for (budget = VTCON_KICK_BUDGET; budget > 0; budget--) {
		int rc = vq_pop(vq, p->tx, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc < 0) {
			virtio_set_needs_reset(vd, err);
			break;
		}
		if (p->tx->nwrite) {
			snprintf(err, sizeof(err),
				 "port %u transmit buffer %u has device-writable segments", p->id,
				 p->tx->head);
			virtio_set_needs_reset(vd, err);
			break;
		}
		if (p->client_fd >= 0 && !p->client_hup) {
			p->tx_busy = true;
			p->tx_off = 0;
			if (!tx_send(p))
				break; /* the rest when the client's socket drains */
		} else {
			p->tx_dropped += p->tx->read_len;
			vq_push(vq, p->tx->head, 0);
			p->tx_irq = true;
		}
	}
	if (budget == 0 && !p->tx_busy && vq_has_work(vq))
		schedule_more(c, q);
	settle(p);
}

/* Client input into the port's receiveq. */
static void rx_process(struct vtcon_port *p)
{
	struct vtcon *c = p->con;
	struct virtio_dev *vd = &c->vd;
	int q = port_rxq(p->id);
	struct virtqueue *vq = &vd->vq[q];
	bool pushed = false;
	char err[160];

	/* no continuation needed: the client stays readable while input is left */
	for (int budget = VTCON_KICK_BUDGET; budget > 0; budget--) {
		if (p->client_fd < 0 || p->client_eof || !can_receive(p))
			break;
		/* look before taking a buffer: a buffer returned empty reads as end-of-file to
		 * a guest program */
		uint8_t b;
		ssize_t n = recv(p->client_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0) {
			p->client_eof = true;
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				p->client_eof = p->client_hup = true;
			break;
		}
		int rc = vq_pop(vq, &c->chain, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc < 0) {
			virtio_set_needs_reset(vd, err);
			break;
		}
		if (c->chain.nread || c->chain.write_len == 0) {
			snprintf(err, sizeof(err), "port %u receive buffer %u has %s", p->id,
				 c->chain.head,
				 c->chain.nread ? "device-readable segments" : "no writable space");
			virtio_set_needs_reset(vd, err);
			break;
		}
		ssize_t got;
		do
			got = readv(p->client_fd, &c->chain.iov[c->chain.nread],
				    (int)c->chain.nwrite);
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			/* cannot happen after the peek (one reader); the buffer goes back empty */
			p->client_eof = p->client_hup = true;
			got = 0;
		}
		vq_push(vq, c->chain.head, (uint32_t)got);
		pushed = true;
	}
	if (pushed)
		virtio_interrupt_queue(vd, q);
}

static void client_event(int fd, uint32_t events, void *opaque)
{
	struct vtcon_port *p = opaque;
	struct vtcon *c = p->con;
	virtio_lock(&c->vd);
	/* the client may have been closed by another thread while this waited for the lock */
	if (fd == p->client_fd) {
		if (events & (EPOLLHUP | EPOLLERR))
			p->client_hup = true;
		if (p->tx_busy && tx_send(p))
			tx_process(p); /* more output may be waiting behind the chain just sent */
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			rx_process(p);
		settle(p);
	}
	virtio_unlock(&c->vd);
}

static void accept_event(int fd, uint32_t events, void *opaque)
{
	struct vtcon_port *p = opaque;
	struct vtcon *c = p->con;
	int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (s < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			kb_debug("virtio-console: port %s: accept: %s", p->name, strerror(errno));
		return;
	}
	virtio_lock(&c->vd);
	if (p->client_fd >= 0 && !p->client_hup) {
		virtio_unlock(&c->vd);
		close(s);
		kb_log("virtio-console: port %s: refused a second client (one at a time)", p->name);
		return;
	}
	if (p->client_fd >= 0) /* a client that hung up with input the guest has not read */
		disconnect(p);
	p->client_fd = s;
	p->client_h = NULL;
	p->client_events = 0;
	p->client_eof = p->client_hup = false;
	p->client_h = evloop_add_fd(c->vm->ev, s, 0, client_event, p);
	if (!p->client_h) {
		kb_log("virtio-console: port %s: cannot watch the client", p->name);
		close(s);
		p->client_fd = -1;
		virtio_unlock(&c->vd);
		return;
	}
	kb_debug("virtio-console: port %s: client connected", p->name);
	if (c->driver_ready && p->guest_ready)
		ctrl_send(c, p->id, VTCON_PORT_OPEN, 1);
	settle(p);
	virtio_unlock(&c->vd);
}

/* ---- messages from the driver (control transmitq) ---- */

static void ctrl_handle(struct vtcon *c, const struct vtcon_ctrl *m)
{
	struct vtcon_port *p;

	switch (m->event) {
	case VTCON_DEVICE_READY:
		/* id is unused (Linux sends VIRTIO_CONSOLE_BAD_ID) */
		if (m->value != 1) {
			guest_warn(c, "driver reports DEVICE_READY %u (failed to initialise)",
				   m->value);
			return;
		}
		c->driver_ready = true;
		for (uint32_t i = 0; i < c->max_ports; i++)
			if (c->ports[i].configured)
				ctrl_send(c, i, VTCON_PORT_ADD, 1);
		return;
	case VTCON_PORT_READY:
	case VTCON_PORT_OPEN:
		p = port_by_id(c, m->id);
		if (!p) {
			guest_warn(c, "%s for port %u, which does not exist",
				   m->event == VTCON_PORT_READY ? "PORT_READY" : "PORT_OPEN",
				   m->id);
			return;
		}
		if (m->value > 1) {
			guest_warn(c, "%s for port %u with value %u (0 or 1)",
				   m->event == VTCON_PORT_READY ? "PORT_READY" : "PORT_OPEN", m->id,
				   m->value);
			return;
		}
		if (m->event == VTCON_PORT_READY) {
			if (!m->value) {
				guest_warn(c, "driver could not add port %u (%s)", m->id, p->name);
				p->guest_ready = false;
				return;
			}
			p->guest_ready = true;
			ctrl_send(c, p->id, VTCON_PORT_NAME, 1);
			if (p->client_fd >= 0 && !p->client_hup)
				ctrl_send(c, p->id, VTCON_PORT_OPEN, 1);
		} else {
			p->guest_open = m->value;
			settle(p);
		}
		return;
	default:
		guest_warn(c, "unexpected control event %u (port %u, value %u) from the driver",
			   m->event, m->id, m->value);
		return;
	}
}

static void ctrl_process(struct vtcon *c)
{
	struct virtio_dev *vd = &c->vd;
	struct virtqueue *vq = &vd->vq[VTCON_CTRL_TXQ];
	bool pushed = false;
	char err[160];

	int budget;
	for (budget = VTCON_KICK_BUDGET; budget > 0 && live(c); budget--) {
		int rc = vq_pop(vq, &c->chain, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc < 0) {
			virtio_set_needs_reset(vd, err);
			break;
		}
		if (c->chain.nwrite || c->chain.read_len != sizeof(struct vtcon_ctrl)) {
			snprintf(err, sizeof(err),
				 "control message %u is %llu readable bytes%s (expected %zu)",
				 c->chain.head, (unsigned long long)c->chain.read_len,
				 c->chain.nwrite ? " with writable segments" : "",
				 sizeof(struct vtcon_ctrl));
			virtio_set_needs_reset(vd, err);
			break;
		}
		/* one copy: the guest may change the buffer while we look at it */
		struct vtcon_ctrl m;
		vq_chain_read(&c->chain, 0, &m, sizeof(m));
		vq_push(vq, c->chain.head, 0);
		pushed = true;
		ctrl_handle(c, &m);
	}
	if (pushed)
		virtio_interrupt_queue(vd, VTCON_CTRL_TXQ);
	if (budget == 0 && live(c) && vq_has_work(vq))
		schedule_more(c, VTCON_CTRL_TXQ);
}

/* ---- device callbacks ---- */

static void vtcon_notify(struct virtio_dev *vd, int q)
{
	struct vtcon *c = vd->priv;
	if (!live(c))
		return;
	if (q == VTCON_CTRL_RXQ) {
		ctrl_flush(c);
		return;
	}
	if (q == VTCON_CTRL_TXQ) {
		if (multiport(c))
			ctrl_process(c);
		return;
	}
	uint32_t id = q < 2 ? 0 : (uint32_t)(q - 2) / 2;
	bool is_tx = q & 1;
	if (id > 0 && !multiport(c))
		return;
	struct vtcon_port *p = port_by_id(c, id);
	if (!p) {
		/* queues of a port that does not exist: the driver has no business there */
		if (vq_has_work(&vd->vq[q]))
			guest_warn(c, "buffers on queue %d of port %u, which does not exist", q,
				   id);
		return;
	}
	if (is_tx) {
		tx_process(p);
	} else {
		/* new receive buffers: client input can flow again */
		rx_process(p);
		settle(p);
	}
}

static void more_timer(void *opaque)
{
	struct vtcon *c = opaque;
	virtio_lock(&c->vd);
	/* on the loop thread: safe to delete the handle whose callback this is */
	evloop_del(c->vm->ev, c->more);
	c->more = NULL;
	uint64_t queues = c->more_queues;
	c->more_queues = 0;
	for (int q = 0; q < c->ops.nqueues; q++)
		if ((queues >> q) & 1 && live(c) && c->vd.vq[q].ready)
			vtcon_notify(&c->vd, q);
	virtio_unlock(&c->vd);
}

static int vtcon_start(struct virtio_dev *vd)
{
	struct vtcon *c = vd->priv;
	/* Without MULTIPORT there is no control channel: port 0 is simply open. */
	if (!multiport(c) && c->ports[0].configured)
		c->ports[0].guest_ready = c->ports[0].guest_open = true;
	return 0;
}

static void vtcon_reset(struct virtio_dev *vd)
{
	struct vtcon *c = vd->priv;
	c->driver_ready = false;
	c->npending = 0;
	c->more_queues = 0; /* a pending timer finds nothing to do */
	for (uint32_t i = 0; i < c->max_ports; i++) {
		struct vtcon_port *p = &c->ports[i];
		if (!p->configured)
			continue;
		p->guest_ready = p->guest_open = false;
		/* the transport resets the queues: the chain in progress is simply forgotten */
		if (p->tx_busy)
			p->tx_dropped += p->tx->read_len - p->tx_off;
		p->tx_busy = p->tx_irq = false;
		/* vd->started is still set while this runs; the port is closed to the guest now */
		update_events(p);
	}
}

/* ---- sockets and lifetime ---- */

static int port_listen(struct vtcon *c, struct vtcon_port *p, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	const char *path = p->path;
	memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked by parse_ports */

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "port %s: %s exists and is not a socket", p->name,
				 path);
			return -EEXIST;
		}
		/* a socket: in use if something accepts connections there, else stale */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (probe < 0) {
			snprintf(err, errlen, "port %s: socket: %s", p->name, strerror(errno));
			return -errno;
		}
		int rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		int e = errno;
		close(probe);
		if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
			snprintf(err, errlen, "port %s: socket %s is in use by another program",
				 p->name, path);
			return -EADDRINUSE;
		}
		if (e != ECONNREFUSED) {
			snprintf(err, errlen, "port %s: %s: %s", p->name, path, strerror(e));
			return -e;
		}
		if (unlink(path) < 0) {
			snprintf(err, errlen, "port %s: cannot remove stale socket %s: %s", p->name,
				 path, strerror(errno));
			return -errno;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "port %s: %s: %s", p->name, path, strerror(errno));
		return -errno;
	}

	p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->listen_fd < 0) {
		snprintf(err, errlen, "port %s: socket: %s", p->name, strerror(errno));
		return -errno;
	}
	if (bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "port %s: bind %s: %s", p->name, path, strerror(errno));
		return -errno;
	}
	if (stat(path, &st) < 0) {
		int e = errno;
		unlink(path);
		snprintf(err, errlen, "port %s: %s: %s", p->name, path, strerror(e));
		return -e;
	}
	p->sock_created = true;
	hostpath_note(path, HOSTPATH_UNLINK); /* removed at exit */
	p->sock_dev = st.st_dev;
	p->sock_ino = st.st_ino;
	/* owner only (the guest's channel), before anyone can connect: listen() comes after */
	if (chmod(path, 0600) < 0) {
		snprintf(err, errlen, "port %s: chmod %s: %s", p->name, path, strerror(errno));
		return -errno;
	}
	if (listen(p->listen_fd, 1) < 0) {
		snprintf(err, errlen, "port %s: listen %s: %s", p->name, path, strerror(errno));
		return -errno;
	}
	p->listen_h = evloop_add_fd(c->vm->ev, p->listen_fd, EPOLLIN, accept_event, p);
	if (!p->listen_h) {
		snprintf(err, errlen, "port %s: cannot watch %s", p->name, path);
		return -EIO;
	}
	return 0;
}

/* Runs after the event loop stopped, and after the transport's own hook (registered later). */
static void vtcon_destroy(void *opaque)
{
	struct vtcon *c = opaque;
	if (c->more)
		evloop_del(c->vm->ev, c->more);
	for (int i = 0; i < VTCON_MAX_PORTS; i++) {
		struct vtcon_port *p = &c->ports[i];
		if (p->client_h)
			evloop_del(c->vm->ev, p->client_h);
		if (p->client_fd >= 0)
			close(p->client_fd);
		if (p->listen_h)
			evloop_del(c->vm->ev, p->listen_h);
		if (p->listen_fd >= 0)
			close(p->listen_fd);
		/* remove the socket only if it is still the one this device made */
		struct stat st;
		if (p->sock_created && lstat(p->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    st.st_dev == p->sock_dev && st.st_ino == p->sock_ino)
			unlink(p->path);
		if (p->tx_dropped)
			kb_debug("virtio-console: port %s: %llu bytes of guest output dropped",
				 p->name, (unsigned long long)p->tx_dropped);
		free(p->tx);
		free(p->path);
	}
	free(c);
}

static int vtcon_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	char err[1024];
	struct vtcon *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (int i = 0; i < VTCON_MAX_PORTS; i++) {
		c->ports[i].con = c;
		c->ports[i].id = (uint32_t)i;
		c->ports[i].listen_fd = c->ports[i].client_fd = -1;
	}
	int rc = parse_ports(devnode, c->ports, &c->max_ports, err, sizeof(err));
	if (rc) {
		kb_log("virtio-console: %s", err);
		free_port_paths(c->ports);
		free(c);
		return rc;
	}
	c->vm = vm;
	c->ops = (struct virtio_dev_ops){
	    .name = "virtio-console",
	    .device_id = VIRTIO_ID_CONSOLE,
	    /* communication controller, other: QEMU's class for virtio-serial. bhyve's 0x0700
	     * (serial, 8250-compatible) would also match the guest's 8250_pci driver. */
	    .pci_class = 0x078000,
	    .nqueues = (int)(2 * c->max_ports + 2),
	    .queue_size = VTCON_QUEUE_SIZE,
	    .features = VTCON_F_MULTIPORT,
	    .config_size = sizeof(c->config),
	    .notify = vtcon_notify,
	    .start = vtcon_start,
	    .reset = vtcon_reset,
	    .cannot_save = "virtio-console cannot be saved yet (its ports hold requests)",
	};
	/* cols and rows stay 0 (no VIRTIO_CONSOLE_F_SIZE); max_nr_ports at offset 4 */
	uint32_t m = c->max_ports;
	for (int i = 0; i < 4; i++)
		c->config[4 + i] = (uint8_t)(m >> (8 * i));
	c->vd.ops = &c->ops;
	c->vd.priv = c;
	c->vd.config = c->config;
	/* registered first so that it runs after the transport's hook (last registered first);
	 * from here on it also cleans up after a failure below */
	rc = vm_at_destroy(vm, vtcon_destroy, c);
	if (rc) {
		free_port_paths(c->ports);
		free(c);
		return rc;
	}
	for (uint32_t i = 0; i < c->max_ports; i++) {
		struct vtcon_port *p = &c->ports[i];
		if (!p->configured)
			continue;
		p->tx = malloc(sizeof(*p->tx));
		if (!p->tx)
			return -ENOMEM;
		rc = port_listen(c, p, err, sizeof(err));
		if (rc) {
			kb_log("virtio-console: %s", err);
			return rc;
		}
	}
	return virtio_pci_create(vm, pd, &c->vd);
}

static const struct pci_devemu vtcon_emu = {
    .name = "virtio-console",
    .legacy_config = vtcon_legacy_config,
    .init = vtcon_init,
    VIRTIO_PCI_HOOKS,
};
PCI_EMUL(vtcon_emu);
