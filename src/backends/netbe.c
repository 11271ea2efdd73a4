/* SPDX-License-Identifier: BSD-2-Clause */
#include "backends/netbe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/options.h"
#include "core/log.h"

#define TUN_DEV "/dev/net/tun"

enum netbe_kind { NETBE_TAP, NETBE_SOCKET };

struct net_backend {
	enum netbe_kind kind;
	char *name; /* the consumer's name for log lines */
	char desc[64];
	char ifname[IFNAMSIZ]; /* taps */
	int fd;
	bool seqpacket;	   /* sockets: SOCK_SEQPACKET (a zero read is the end) */
	bool vnet_hdr;	   /* frames carry a virtio-net header */
	unsigned offloads; /* what TUNSETOFFLOAD accepted at open */
	bool created;	   /* the tap did not exist before: it goes away with fd */
	bool brought_up;   /* IFF_UP set here: cleared again at close */

	struct evloop *ev;
	netbe_rx_fn rx;
	void *rx_opaque;
	/* The lock covers the handle and the watched events; never held while rx runs. */
	pthread_mutex_t lock;
	struct evloop_handle *h;
	bool paused;
	bool gone; /* the interface went away or the peer closed: nothing more to read */
	atomic_bool gone_logged;

	_Atomic uint64_t rx_packets, rx_bytes, rx_drops;
	_Atomic uint64_t tx_packets, tx_bytes, tx_drops;
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t load(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- configuration ---- */

int netbe_legacy_config(struct cfgnode *devnode, const char *opts)
{
	if (!opts || !*opts)
		return 0;
	const char *comma = strchr(opts, ',');
	const char *eq = strchr(opts, '=');
	if (eq && (!comma || eq < comma))
		return pci_parse_legacy_config(devnode, opts); /* no backend: mac=... first */
	size_t n = comma ? (size_t)(comma - opts) : strlen(opts);
	char *backend = strndup(opts, n);
	if (!backend)
		return -ENOMEM;
	int rc = config_set(devnode, "backend", backend);
	free(backend);
	if (rc < 0 || !comma)
		return rc;
	return pci_parse_legacy_config(devnode, comma + 1);
}

/* bhyve's other backend kinds, recognised so that they are refused by name rather than taken
 * for tap names. */
static const char *foreign_kind(const char *spec)
{
	if (strcmp(spec, "netgraph") == 0)
		return "netgraph";
	if (strncmp(spec, "netmap:", 7) == 0 || strncmp(spec, "vale", 4) == 0)
		return "netmap";
	if (strcmp(spec, "slirp") == 0)
		return "slirp";
	return NULL;
}

/* Linux's rules for interface names (dev_valid_name), plus no '%': a template would create a
 * tap with a name nobody asked for. */
static const char *bad_ifname(const char *s)
{
	size_t len = strlen(s);
	if (len == 0)
		return "empty interface name";
	if (len > NETBE_IFNAME_MAX)
		return "interface name longer than 15 characters";
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "invalid interface name";
	for (const char *p = s; *p; p++) {
		if (*p == '/' || *p == ':' || *p == '%' || *p <= ' ' || *p == 0x7f)
			return "invalid character in interface name";
	}
	return NULL;
}

/* ---- taps ---- */

/* A socket for interface ioctls (SIOC[GS]IF*); any family will do. */
static int ifreq_socket(void)
{
	return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

static int get_ifflags(const char *ifname, short *flags)
{
	int s = ifreq_socket();
	if (s < 0)
		return -errno;
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int rc = ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ? -errno : 0;
	close(s);
	if (rc == 0)
		*flags = ifr.ifr_flags;
	return rc;
}

static int set_ifflags(const char *ifname, short set, short clear)
{
	int s = ifreq_socket();
	if (s < 0)
		return -errno;
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int rc = 0;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		rc = -errno;
	} else {
		ifr.ifr_flags = (short)((ifr.ifr_flags | set) & ~clear);
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			rc = -errno;
	}
	close(s);
	return rc;
}

static unsigned to_tun_flags(unsigned off)
{
	unsigned f = 0;
	if (!(off & NETBE_OFFLOAD_CSUM))
		return 0; /* every other offload builds on partial checksums */
	f |= TUN_F_CSUM;
	if (off & NETBE_OFFLOAD_TSO4)
		f |= TUN_F_TSO4;
	if (off & NETBE_OFFLOAD_TSO6)
		f |= TUN_F_TSO6;
	if ((off & NETBE_OFFLOAD_ECN) && (off & (NETBE_OFFLOAD_TSO4 | NETBE_OFFLOAD_TSO6)))
		f |= TUN_F_TSO_ECN;
	if (off & NETBE_OFFLOAD_UFO)
		f |= TUN_F_UFO;
	return f;
}

/* Which offloads this tap takes: try each with what it depends on, then switch all off. */
static unsigned probe_offloads(int fd)
{
	static const unsigned tries[] = {
	    NETBE_OFFLOAD_CSUM,
	    NETBE_OFFLOAD_CSUM | NETBE_OFFLOAD_TSO4,
	    NETBE_OFFLOAD_CSUM | NETBE_OFFLOAD_TSO6,
	    NETBE_OFFLOAD_CSUM | NETBE_OFFLOAD_TSO4 | NETBE_OFFLOAD_ECN,
	    NETBE_OFFLOAD_CSUM | NETBE_OFFLOAD_TSO6 | NETBE_OFFLOAD_ECN,
	    NETBE_OFFLOAD_CSUM | NETBE_OFFLOAD_UFO,
	};
	unsigned ok = 0;
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)to_tun_flags(tries[i])) == 0)
			ok |= tries[i];
	ioctl(fd, TUNSETOFFLOAD, 0UL);
	return ok;
}

/* TUNSETIFF on a fresh /dev/net/tun descriptor. 0, or -errno with the reason in err. */
static int tap_attach(struct net_backend *be, const char *ifname, char *err, size_t errlen)
{
	be->created = if_nametoindex(ifname) == 0;
	int fd = open(TUN_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open " TUN_DEV ": %s%s", ifname, strerror(e),
			 e == ENOENT ? " (is the tun module loaded?)" : "");
		return -e;
	}
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	int rc = ioctl(fd, TUNSETIFF, &ifr);
	if (rc < 0 && errno == EINVAL && !be->created) {
		/* a persistent tap made with multi_queue only takes multi-queue attachments */
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
		rc = ioctl(fd, TUNSETIFF, &ifr);
	}
	if (rc < 0) {
		int e = errno;
		close(fd);
		if ((e == EPERM || e == EACCES) && be->created)
			snprintf(err, errlen,
				 "%s: no such interface, and creating a tap needs CAP_NET_ADMIN "
				 "(create it first: ip tuntap add %s mode tap user USER)",
				 ifname, ifname);
		else if (e == EPERM || e == EACCES)
			snprintf(
			    err, errlen,
			    "%s: not allowed to attach to this tap (it belongs to another user or "
			    "group)",
			    ifname);
		else if (e == EINVAL && !be->created)
			snprintf(err, errlen, "%s: the interface exists and is not a tap", ifname);
		else if (e == EBUSY)
			snprintf(err, errlen, "%s: the tap is in use by another process", ifname);
		else
			snprintf(err, errlen, "%s: TUNSETIFF: %s", ifname, strerror(e));
		return -e;
	}
	snprintf(be->ifname, sizeof(be->ifname), "%s", ifr.ifr_name);
	be->fd = fd;
	return 0;
}

static int tap_open(struct net_backend *be, const char *ifname, char *err, size_t errlen)
{
	const char *why = bad_ifname(ifname);
	if (why) {
		snprintf(err, errlen, "'%s': %s", ifname, why);
		return -EINVAL;
	}
	int rc = tap_attach(be, ifname, err, errlen);
	if (rc < 0)
		return rc;
	int hdr = NETBE_VNET_HDR_MRG_LEN;
	if (ioctl(be->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: TUNSETVNETHDRSZ: %s", ifname, strerror(-rc));
		return rc;
	}
	be->kind = NETBE_TAP;
	be->vnet_hdr = true;
	be->offloads = probe_offloads(be->fd);

	short flags = 0;
	rc = get_ifflags(be->ifname, &flags);
	if (rc == 0 && !(flags & IFF_UP)) {
		rc = set_ifflags(be->ifname, IFF_UP, 0);
		if (rc == 0)
			be->brought_up = true;
		else
			kb_log("%s: tap %s is down and cannot be brought up (%s): bring it up with "
			       "'ip link set %s up'",
			       be->name, be->ifname, strerror(-rc), be->ifname);
	}
	snprintf(be->desc, sizeof(be->desc), "tap %s%s", be->ifname,
		 be->created ? " (created)" : "");
	return 0;
}

/* ---- inherited descriptors ---- */

static int fd_open(struct net_backend *be, const char *spec, char *err, size_t errlen)
{
	const char *num = spec + 3;
	char *end;
	errno = 0;
	long n = strtol(num, &end, 10);
	if (*num < '0' || *num > '9' || *end || errno || n > INT_MAX) {
		snprintf(err, errlen, "%s: not a descriptor number", spec);
		return -EINVAL;
	}
	int fd = (int)n;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", spec, strerror(e));
		return -e;
	}
	if (S_ISSOCK(st.st_mode)) {
		int type;
		socklen_t len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
		    (type != SOCK_DGRAM && type != SOCK_SEQPACKET)) {
			snprintf(err, errlen, "%s: not a datagram or seqpacket socket", spec);
			return -EINVAL;
		}
		be->kind = NETBE_SOCKET;
		be->seqpacket = type == SOCK_SEQPACKET;
		be->vnet_hdr = false;
		snprintf(be->desc, sizeof(be->desc), "fd %d (socket)", fd);
	} else {
		struct ifreq ifr = {0};
		if (!S_ISCHR(st.st_mode) || ioctl(fd, TUNGETIFF, &ifr) < 0) {
			snprintf(err, errlen, "%s: neither a tap nor a packet socket", spec);
			return -EINVAL;
		}
		/* IFF_NO_PI cannot be checked: TUNGETIFF reports it whether set or not */
		if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TAP) {
			snprintf(err, errlen, "%s: %s is a tun (IP) device, not a tap", spec,
				 ifr.ifr_name);
			return -EINVAL;
		}
		be->kind = NETBE_TAP;
		be->vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
		if (be->vnet_hdr) {
			int hdr = NETBE_VNET_HDR_MRG_LEN;
			if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
				int e = errno;
				snprintf(err, errlen, "%s: TUNSETVNETHDRSZ: %s", spec, strerror(e));
				return -e;
			}
			be->offloads = probe_offloads(fd);
		}
		snprintf(be->ifname, sizeof(be->ifname), "%s", ifr.ifr_name);
		snprintf(be->desc, sizeof(be->desc), "tap %s (fd %d)", be->ifname, fd);
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot make it non-blocking: %s", spec, strerror(e));
		return -e;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	be->fd = fd;
	return 0;
}

/* ---- common ---- */

/* Nothing more will come: stop watching (the caller holds be->lock). */
static void mark_gone_locked(struct net_backend *be, int e)
{
	if (!be->gone && be->h) {
		evloop_del(be->ev, be->h);
		be->h = NULL;
	}
	be->gone = true;
	if (!atomic_exchange(&be->gone_logged, true))
		kb_log("%s: %s: %s; the link is down", be->name, be->desc,
		       e ? strerror(e) : "the peer closed");
}

static void mark_gone(struct net_backend *be, int e)
{
	pthread_mutex_lock(&be->lock);
	mark_gone_locked(be, e);
	pthread_mutex_unlock(&be->lock);
}

static void on_event(int fd, uint32_t events, void *opaque)
{
	struct net_backend *be = opaque;
	if (events & EPOLLIN) {
		be->rx(be->rx_opaque);
		return;
	}
	/* An error or hang-up without input: a tap whose interface was deleted, a socket whose
	 * peer went away. Reported even while paused, so stop watching for good. */
	if (events & (EPOLLERR | EPOLLHUP))
		mark_gone(be, be->kind == NETBE_TAP ? ENODEV : 0);
}

static void update_watch_locked(struct net_backend *be)
{
	if (be->h)
		evloop_modify(be->ev, be->h, be->paused ? 0 : EPOLLIN);
}

int netbe_open(struct net_backend **out, const char *spec, const char *type, const char *name,
	       struct evloop *ev, netbe_rx_fn rx, void *opaque, char *err, size_t errlen)
{
	*out = NULL;
	if (!spec || !*spec) {
		snprintf(err, errlen, "empty network backend name");
		return -EINVAL;
	}
	const char *kind = type && *type ? type : foreign_kind(spec);
	if (kind && strcmp(kind, "tap") != 0) {
		if (foreign_kind(kind) || strcmp(kind, "netmap") == 0)
			snprintf(err, errlen, "%s: the %s backend is not available on Linux", spec,
				 kind);
		else
			snprintf(err, errlen, "%s: unknown network backend type '%s'", spec, kind);
		return -ENOTSUP;
	}
	struct net_backend *be = calloc(1, sizeof(*be));
	if (!be || !(be->name = strdup(name ? name : "net"))) {
		free(be);
		snprintf(err, errlen, "%s: out of memory", spec);
		return -ENOMEM;
	}
	be->fd = -1;
	be->ev = ev;
	be->rx = rx;
	be->rx_opaque = opaque;
	be->paused = true;
	pthread_mutex_init(&be->lock, NULL);
	atomic_init(&be->gone_logged, false);

	int rc;
	if (!kind && strncmp(spec, "fd:", 3) == 0)
		rc = fd_open(be, spec, err, errlen);
	else
		rc = tap_open(be, spec, err, errlen);
	if (rc == 0) {
		/* watched from the start (no events while paused) so that a hang-up is seen */
		be->h = evloop_add_fd(ev, be->fd, 0, on_event, be);
		if (!be->h) {
			snprintf(err, errlen, "%s: cannot watch the descriptor", spec);
			rc = -ENOMEM;
		}
	}
	if (rc < 0) {
		netbe_close(be);
		return rc;
	}
	kb_debug("%s: network backend %s, offloads %#x", be->name, be->desc, be->offloads);
	*out = be;
	return 0;
}

int netbe_open_config(struct net_backend **out, struct cfgnode *devnode, const char *name,
		      struct evloop *ev, netbe_rx_fn rx, void *opaque, char *err, size_t errlen)
{
	const char *spec = config_get(devnode, "backend");
	if (!spec) {
		*out = NULL;
		snprintf(err, errlen, "no network backend configured");
		return -ENOENT;
	}
	return netbe_open(out, spec, config_get(devnode, "type"), name, ev, rx, opaque, err,
			  errlen);
}

void netbe_close(struct net_backend *be)
{
	if (!be)
		return;
	if (be->h)
		evloop_del(be->ev, be->h);
	if (be->fd >= 0) {
		/* a tap created here disappears with its last descriptor */
		if (be->brought_up && !be->created)
			set_ifflags(be->ifname, 0, IFF_UP);
		close(be->fd);
	}
	pthread_mutex_destroy(&be->lock);
	free(be->name);
	free(be);
}

/* ---- data ---- */

ssize_t netbe_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	ssize_t n;
	if (be->kind == NETBE_SOCKET) {
		struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
		n = sendmsg(be->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} else {
		n = writev(be->fd, iov, iovcnt);
	}
	if (n >= 0 && (size_t)n == len) {
		count(&be->tx_packets, 1);
		count(&be->tx_bytes, len);
		return n;
	}
	int e = n < 0 ? errno : EMSGSIZE; /* a short write leaves a frame nobody can use */
	count(&be->tx_drops, 1);
	/* full (EAGAIN, ENOBUFS) or a frame the kernel refused (EINVAL, EMSGSIZE): this frame
	 * only; anything else means the interface or the peer is gone */
	if (e == EBADFD || e == EIO || e == ENODEV || e == EPIPE || e == ECONNREFUSED ||
	    e == ENOTCONN)
		mark_gone(be, e);
	return -e;
}

ssize_t netbe_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	ssize_t n;
	if (be->kind == NETBE_SOCKET) {
		struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
		n = recvmsg(be->fd, &mh, MSG_DONTWAIT);
		if (n > 0 && (mh.msg_flags & MSG_TRUNC)) {
			/* the rest of the datagram is gone: let the caller see it was cut */
			size_t len = 0;
			for (int i = 0; i < iovcnt; i++)
				len += iov[i].iov_len;
			n = (ssize_t)len;
		}
		if (n == 0 && be->seqpacket) {
			mark_gone(be, 0); /* the peer closed */
			return -EPIPE;
		}
		if (n == 0) {
			count(&be->rx_drops, 1); /* an empty datagram is no frame */
			return -EMSGSIZE;
		}
	} else {
		n = readv(be->fd, iov, iovcnt);
	}
	if (n > 0) {
		count(&be->rx_packets, 1);
		count(&be->rx_bytes, (uint64_t)n);
		return n;
	}
	int e = n < 0 ? errno : EIO;
	if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
		return 0;
	if (e == EINVAL || e == EFAULT || e == EMSGSIZE) {
		count(&be->rx_drops, 1); /* this frame could not be stored */
		return -e;
	}
	mark_gone(be, e);
	return -e;
}

void netbe_count_rx_drop(struct net_backend *be)
{
	count(&be->rx_drops, 1);
}

void netbe_rx_pause(struct net_backend *be)
{
	pthread_mutex_lock(&be->lock);
	if (!be->paused) {
		be->paused = true;
		update_watch_locked(be);
	}
	pthread_mutex_unlock(&be->lock);
}

void netbe_rx_resume(struct net_backend *be)
{
	pthread_mutex_lock(&be->lock);
	if (be->paused) {
		be->paused = false;
		update_watch_locked(be);
	}
	pthread_mutex_unlock(&be->lock);
}

bool netbe_vnet_hdr_supported(const struct net_backend *be)
{
	return be->vnet_hdr;
}

int netbe_set_vnet_hdr_len(struct net_backend *be, size_t len)
{
	if (!be->vnet_hdr)
		return -ENOTSUP;
	if (len != NETBE_VNET_HDR_LEN && len != NETBE_VNET_HDR_MRG_LEN)
		return -EINVAL;
	int sz = (int)len;
	return ioctl(be->fd, TUNSETVNETHDRSZ, &sz) < 0 ? -errno : 0;
}

unsigned netbe_offloads(const struct net_backend *be)
{
	return be->offloads;
}

int netbe_set_offload(struct net_backend *be, unsigned offloads)
{
	if (offloads & ~be->offloads)
		return -ENOTSUP;
	if (!be->vnet_hdr)
		return 0;
	return ioctl(be->fd, TUNSETOFFLOAD, (unsigned long)to_tun_flags(offloads)) < 0 ? -errno : 0;
}

void netbe_get_stats(const struct net_backend *be, struct netbe_stats *st)
{
	st->rx_packets = load(&be->rx_packets);
	st->rx_bytes = load(&be->rx_bytes);
	st->rx_drops = load(&be->rx_drops);
	st->tx_packets = load(&be->tx_packets);
	st->tx_bytes = load(&be->tx_bytes);
	st->tx_drops = load(&be->tx_drops);
}

const char *netbe_describe(const struct net_backend *be)
{
	return be->desc;
}

const char *netbe_ifname(const struct net_backend *be)
{
	return be->kind == NETBE_TAP ? be->ifname : NULL;
}

/* ---- MAC addresses ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int netbe_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];
	const char *p = s;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(p[0]);
		if (hi < 0)
			return -EINVAL;
		int lo = hexval(p[1]);
		if (lo >= 0) {
			m[i] = (uint8_t)(hi << 4 | lo);
			p += 2;
		} else {
			m[i] = (uint8_t)hi;
			p += 1;
		}
		if (i < 5 && *p++ != ':')
			return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	if (m[0] & 1)
		return -EINVAL; /* multicast, broadcast included */
	if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return -EINVAL;
	memcpy(mac, m, 6);
	return 0;
}

/* FNV-1a over the PCI address and the VM name, then a 64-bit finaliser (splitmix64's) so that
 * every input bit reaches the low bytes. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void netbe_gen_mac(const char *vmname, int bus, int slot, int func, uint8_t mac[6])
{
	char addr[48];
	snprintf(addr, sizeof(addr), "%d-%d-%d-", bus, slot, func);
	uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ULL, addr), vmname ? vmname : "");
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	mac[0] = 0x58;
	mac[1] = 0x9c;
	mac[2] = 0xfc;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

int netbe_mac_from_config(struct cfgnode *devnode, const char *vmname, int bus, int slot,
			  int func, const char *who, uint8_t mac[6])
{
	const char *v = config_get(devnode, "mac");
	if (!v) {
		netbe_gen_mac(vmname, bus, slot, func, mac);
		return 0;
	}
	if (netbe_parse_mac(v, mac) < 0) {
		kb_log("%s: mac=%s: not a unicast MAC address (xx:xx:xx:xx:xx:xx)", who, v);
		return -EINVAL;
	}
	return 0;
}
