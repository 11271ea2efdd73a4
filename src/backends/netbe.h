/* SPDX-License-Identifier: BSD-2-Clause */
/* Network backends for the emulated NICs (virtio-net; later e1000), chosen as bhyve chooses them:
 * by the device's `backend` key (the first word after the device name: -s S,virtio-net,tap0,...)
 * and an optional `type` key.
 *
 *   tap0, vmnet3, br0-vm1 ...   any other name: a Linux tap interface of that name (type "tap").
 *                               An existing tap (made persistent with `ip tuntap add`) is attached
 *                               and left in place at close; a missing one is created (this needs
 *                               CAP_NET_ADMIN) and disappears at close. The link is brought up
 *                               when it is down (FreeBSD does this with net.link.tap.up_on_open,
 *                               which vm-bhyve sets; Linux needs an explicit SIOCSIFFLAGS, which
 *                               needs CAP_NET_ADMIN too); a tap brought up here is set down again
 *                               at close, as a FreeBSD tap goes down on its last close.
 *   fd:N                        an inherited descriptor N, adopted (closed at close): a tap opened
 *                               by a more privileged parent (with IFF_NO_PI, which cannot be
 *                               checked; IFF_VNET_HDR is read back with TUNGETIFF and used when
 *                               set), or a SOCK_DGRAM/SOCK_SEQPACKET socket carrying one
 *                               Ethernet frame per message without a virtio-net header.
 *   netgraph, netmap:IF, valeX:P, slirp
 *                               bhyve backends that do not exist here: refused with a message.
 *
 * Taps are opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR: every frame read or written starts with
 * a struct virtio_net_hdr of the length set with netbe_set_vnet_hdr_len() (12 at open: the
 * virtio 1.x header with num_buffers), so checksum and segmentation offloads pass through between
 * the tap and the guest untouched. netbe_offloads() tells which offloads the tap accepted when
 * probed at open; netbe_set_offload() enables those the guest negotiated (which packets the tap
 * may hand us with a partial checksum or as one large segment).
 *
 * Receiving: the backend starts with reception paused. While resumed, `rx` is called on the
 * event-loop thread whenever frames are waiting; the consumer then calls netbe_recv() until it
 * returns 0, or stops early: frames left behind make `rx` run again (level-triggered), so a
 * consumer that cannot take frames now must call netbe_rx_pause() and resume later.
 * Sending never blocks: a frame the backend cannot take at once is dropped and counted.
 *
 * Threads: send, recv, pause, resume, offload changes and stats may be called from any thread,
 * including with the consumer's own lock held (the backend takes no lock around `rx`).
 * netbe_close() must run when the event loop is stopped or on its thread.
 */
#ifndef KB_NETBE_H
#define KB_NETBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "config/config.h"
#include "core/evloop.h"

struct net_backend;

/* Offloads, as bits for netbe_offloads()/netbe_set_offload() (they map to TUN_F_*). */
#define NETBE_OFFLOAD_CSUM 0x01 /* partial checksums (VIRTIO_NET_HDR_F_NEEDS_CSUM) */
#define NETBE_OFFLOAD_TSO4 0x02 /* TCPv4 segmentation; needs CSUM */
#define NETBE_OFFLOAD_TSO6 0x04 /* TCPv6 segmentation; needs CSUM */
#define NETBE_OFFLOAD_ECN 0x08	/* TSO with the ECN (CWR) bit; needs TSO4 or TSO6 */
#define NETBE_OFFLOAD_UFO 0x10	/* UDP fragmentation offload; needs CSUM */

/* The legacy virtio-net header and the virtio 1.x / mergeable-buffers one. */
#define NETBE_VNET_HDR_LEN 10
#define NETBE_VNET_HDR_MRG_LEN 12

/* Interface names (IFNAMSIZ - 1 characters at most). */
#define NETBE_IFNAME_MAX 15

struct netbe_stats {
	uint64_t rx_packets, rx_bytes; /* frames handed to the consumer (header included) */
	uint64_t rx_drops;	       /* frames lost on the way in (read errors, too large) */
	uint64_t tx_packets, tx_bytes; /* frames the backend took */
	uint64_t tx_drops;	       /* frames it could not take (full, malformed, link gone) */
};

/* Frames are waiting: called on the event-loop thread while reception is resumed. */
typedef void (*netbe_rx_fn)(void *opaque);

/* The -s conf string of a NIC: its first word becomes `backend`, the rest is the generic
 * key=value list (mac=, mtu=, ...). A first word with '=' is a setting, not a backend
 * (`-s 3,virtio-net,mac=...`: a NIC without a backend, which bhyve permits; bhyve itself would
 * take "mac=..." for a backend name and fail). NULL or "" sets nothing. 0 or -errno (as
 * pci_parse_legacy_config). */
int netbe_legacy_config(struct cfgnode *devnode, const char *opts);

/* Open the backend named by `spec` (see above). `type` (the `type` key, may be NULL) forces the
 * kind: "tap" or the names of bhyve's other backends. `name` ("virtio-net 0:3:0") prefixes log
 * lines. The descriptor is watched on `ev` once reception is resumed. 0 and *out, or -errno
 * with "SPEC: reason" in err. */
int netbe_open(struct net_backend **out, const char *spec, const char *type, const char *name,
	       struct evloop *ev, netbe_rx_fn rx, void *opaque, char *err, size_t errlen);
/* The same with `backend` and `type` read from a device's config node. -ENOENT (and a message)
 * without a backend key. */
int netbe_open_config(struct net_backend **out, struct cfgnode *devnode, const char *name,
		      struct evloop *ev, netbe_rx_fn rx, void *opaque, char *err, size_t errlen);
/* Stop watching, close the descriptor, set a tap brought up here down again. NULL is fine. */
void netbe_close(struct net_backend *be);

/* Send one frame (gathered from iov). Never blocks: returns the length sent, or -errno when the
 * frame was dropped (and counted). */
ssize_t netbe_send(struct net_backend *be, const struct iovec *iov, int iovcnt);
/* Receive one frame into iov: its length (at most the iov total: a longer frame is cut to fit,
 * so a caller that must notice adds one spare byte at the end), 0 when none is waiting, or
 * -errno (the frame, if any, is lost and counted). iovcnt <= IOV_MAX. */
ssize_t netbe_recv(struct net_backend *be, const struct iovec *iov, int iovcnt);
/* The consumer dropped a frame it had received (no room for it): count it. */
void netbe_count_rx_drop(struct net_backend *be);

void netbe_rx_pause(struct net_backend *be);
void netbe_rx_resume(struct net_backend *be);

/* Header handling. netbe_vnet_hdr_supported(): frames carry a virtio-net header. Then
 * netbe_set_vnet_hdr_len() chooses its length (10 or 12); -ENOTSUP for a backend without
 * headers (the consumer adds and strips headers itself). */
bool netbe_vnet_hdr_supported(const struct net_backend *be);
int netbe_set_vnet_hdr_len(struct net_backend *be, size_t len);
/* The NETBE_OFFLOAD_* bits the backend accepts (0 without headers). */
unsigned netbe_offloads(const struct net_backend *be);
/* Enable exactly these offloads for received frames (a subset of netbe_offloads(); dependent
 * bits without their base, e.g. TSO4 without CSUM, are ignored). 0 or -errno. */
int netbe_set_offload(struct net_backend *be, unsigned offloads);

void netbe_get_stats(const struct net_backend *be, struct netbe_stats *st);
/* "tap tap0", "tap vmnet1 (created)", "fd 5 (socket)" */
const char *netbe_describe(const struct net_backend *be);
/* The interface name for taps, else NULL. */
const char *netbe_ifname(const struct net_backend *be);

/* ---- MAC addresses ---- */

/* "xx:xx:xx:xx:xx:xx" (1 or 2 hex digits per octet, as ether_aton). -EINVAL for anything else,
 * and for multicast/broadcast or all-zero addresses (a NIC needs a unicast address). */
int netbe_parse_mac(const char *s, uint8_t mac[6]);
/* bhyve's default address: its OUI 58:9c:fc and three bytes of a hash of the VM name and the
 * PCI address, so it is stable across runs and differs between NICs and VMs. */
void netbe_gen_mac(const char *vmname, int bus, int slot, int func, uint8_t mac[6]);
/* A NIC's MAC: the device node's mac= (checked), else netbe_gen_mac's. 0, or -EINVAL with one
 * line logged naming `who` (e.g. "e1000 0:3.0") and the value. */
int netbe_mac_from_config(struct cfgnode *devnode, const char *vmname, int bus, int slot,
			  int func, const char *who, uint8_t mac[6]);

#endif
