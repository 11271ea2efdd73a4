/* SPDX-License-Identifier: BSD-2-Clause */
/* Network backends with real descriptors and a running event loop: Linux taps (created here with
 * unique names; frames go in and out through an AF_PACKET socket bound to the tap), persistent
 * taps attached and left in place, the offload probe checked against the kernel's view
 * (ethtool), permission errors in a child without CAP_NET_ADMIN, an interface deleted under
 * the backend, and the fd: backend over socket pairs. Needs root (or CAP_NET_ADMIN) and
 * /dev/net/tun; the tap tests are skipped without them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/netbe.h"
#include "config/config.h"
#include "core/evloop.h"

#define TEST_ETHERTYPE 0x88B5 /* IEEE local experimental: nothing else sends it */
#define HDR NETBE_VNET_HDR_MRG_LEN

/* ---- a consumer that keeps the test frames it receives ---- */

#define MAX_FRAMES 16

struct consumer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct net_backend *be;
	int calls;
	int nframes;
	size_t len[MAX_FRAMES];
	uint8_t frame[MAX_FRAMES][2048];
	bool pause_on_call; /* pause without reading: a consumer without buffers */
};

static bool is_test_frame(const uint8_t *p, size_t len, size_t hdr)
{
	return len >= hdr + 14 && p[hdr + 12] == (TEST_ETHERTYPE >> 8) &&
	       p[hdr + 13] == (TEST_ETHERTYPE & 0xff);
}

static void consume(void *opaque)
{
	struct consumer *c = opaque;
	pthread_mutex_lock(&c->lock);
	c->calls++;
	if (c->pause_on_call) {
		netbe_rx_pause(c->be);
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	for (;;) {
		uint8_t buf[2048];
		struct iovec v = {buf, sizeof(buf)};
		ssize_t n = netbe_recv(c->be, &v, 1);
		if (n <= 0)
			break;
		size_t hdr = netbe_vnet_hdr_supported(c->be) ? HDR : 0;
		if (is_test_frame(buf, (size_t)n, hdr) && c->nframes < MAX_FRAMES) {
			memcpy(c->frame[c->nframes], buf, (size_t)n);
			c->len[c->nframes++] = (size_t)n;
		}
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Wait until `n` test frames arrived and rx ran at least `calls` times: up to 2 s when that is
 * expected, 200 ms where the test checks that nothing comes (wait_none). */
static bool wait_frames_ms(struct consumer *c, int n, int calls, long ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->lock);
	while (c->nframes < n || c->calls < calls) {
		if (pthread_cond_timedwait(&c->cond, &c->lock, &until) != 0)
			break;
	}
	bool ok = c->nframes >= n && c->calls >= calls;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static bool wait_frames(struct consumer *c, int n, int calls)
{
	return wait_frames_ms(c, n, calls, 2000);
}

static bool wait_none(struct consumer *c, int n, int calls)
{
	return wait_frames_ms(c, n, calls, 200);
}

/* ---- fixture: an event loop on its own thread ---- */

struct env {
	struct evloop *ev;
	pthread_t loop;
	struct consumer c;
	char ifname[IFNAMSIZ];
	int persist_fd; /* a persistent tap made by the test, -1 */
};

static void *loop_thread(void *opaque)
{
	evloop_run(opaque);
	return NULL;
}

static bool have_tun;

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->ev = evloop_new();
	assert_non_null(e->ev);
	pthread_mutex_init(&e->c.lock, NULL);
	pthread_cond_init(&e->c.cond, NULL);
	static int seq;
	snprintf(e->ifname, sizeof(e->ifname), "kbn%d_%d", (int)(getpid() % 100000), seq++);
	e->persist_fd = -1;
	assert_int_equal(pthread_create(&e->loop, NULL, loop_thread, e->ev), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	evloop_stop(e->ev, 0);
	pthread_join(e->loop, NULL);
	netbe_close(e->c.be);
	if (e->persist_fd >= 0) {
		ioctl(e->persist_fd, TUNSETPERSIST, 0);
		close(e->persist_fd);
	}
	/* a persistent tap left behind by a failed test */
	for (int mq = 0; mq < 2 && if_nametoindex(e->ifname); mq++) {
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		struct ifreq ifr = {0};
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", e->ifname);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0);
		if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0)
			ioctl(fd, TUNSETPERSIST, 0);
		if (fd >= 0)
			close(fd);
	}
	evloop_free(e->ev);
	pthread_mutex_destroy(&e->c.lock);
	pthread_cond_destroy(&e->c.cond);
	free(e);
	return 0;
}

static int open_be(struct env *e, const char *spec, char *err, size_t errlen)
{
	return netbe_open(&e->c.be, spec, NULL, "test-nic", e->ev, consume, &e->c, err, errlen);
}

/* A persistent tap, like `ip tuntap add NAME mode tap`, left down. Its creator's descriptor is
 * closed again (detached) unless keep is set. */
static int make_persistent_tap(const char *name, bool keep, uid_t owner)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
	if (owner != (uid_t)-1)
		assert_int_equal(ioctl(fd, TUNSETOWNER, owner), 0);
	if (keep)
		return fd;
	close(fd);
	/* a descriptor to delete it with later: attaching needs no exclusivity once detached */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	return fd;
}

static short if_flags(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	short f = ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ? -1 : ifr.ifr_flags;
	close(s);
	return f;
}

/* An AF_PACKET socket on the interface; IPv6 off there so that only our frames travel. */
static int packet_socket(const char *ifname)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(s >= 0);
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)if_nametoindex(ifname)};
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

static size_t make_frame(uint8_t *p, uint8_t tag, size_t len)
{
	memset(p, 0xff, 6); /* broadcast */
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x42};
	memcpy(p + 6, src, 6);
	p[12] = TEST_ETHERTYPE >> 8;
	p[13] = TEST_ETHERTYPE & 0xff;
	for (size_t i = 14; i < len; i++)
		p[i] = (uint8_t)(tag + i);
	return len;
}

/* The next test frame the interface passed up from the tap (not one sent out to it). */
static ssize_t packet_recv_test_frame(int s, uint8_t *buf, size_t len)
{
	for (;;) {
		struct pollfd p = {s, POLLIN, 0};
		if (poll(&p, 1, 2000) <= 0)
			return -1;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, buf, len, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return -1;
		if (from.sll_pkttype != PACKET_OUTGOING && is_test_frame(buf, (size_t)n, 0))
			return n;
	}
}

static bool tun_available(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return geteuid() == 0;
}

#define NEED_TUN()                                                                                 \
	do {                                                                                       \
		if (!have_tun)                                                                     \
			skip();                                                                    \
	} while (0)

/* ---- configuration ---- */

static void test_legacy_config(void **state)
{
	struct cfgnode *cfg = config_new();
	struct cfgnode *d = config_node_create(cfg, "pci.0.3.0");
	assert_int_equal(netbe_legacy_config(d, "tap0"), 0);
	assert_string_equal(config_get(d, "backend"), "tap0");
	assert_null(config_get(d, "mac"));

	d = config_node_create(cfg, "pci.0.4.0");
	assert_int_equal(netbe_legacy_config(d, "vmnet7,mac=00:a0:98:01:02:03,mtu=9000"), 0);
	assert_string_equal(config_get(d, "backend"), "vmnet7");
	assert_string_equal(config_get(d, "mac"), "00:a0:98:01:02:03");
	assert_string_equal(config_get(d, "mtu"), "9000");

	d = config_node_create(cfg, "pci.0.5.0");
	assert_int_equal(netbe_legacy_config(d, NULL), 0);
	assert_int_equal(netbe_legacy_config(d, ""), 0);
	assert_null(config_get(d, "backend"));
	/* a setting first: no backend */
	assert_int_equal(netbe_legacy_config(d, "mac=00:a0:98:01:02:03,mtu=1400"), 0);
	assert_null(config_get(d, "backend"));
	assert_string_equal(config_get(d, "mtu"), "1400");

	d = config_node_create(cfg, "pci.0.6.0");
	assert_int_equal(netbe_legacy_config(d, "netgraph,path=ngeth0:,peerhook=lower"), 0);
	assert_string_equal(config_get(d, "backend"), "netgraph");
	assert_string_equal(config_get(d, "path"), "ngeth0:");
	assert_string_equal(config_get(d, "peerhook"), "lower");
	/* the generic parser's errors come through */
	assert_int_not_equal(netbe_legacy_config(d, "tap0,=x"), 0);
	config_free(cfg);
}

static void test_bad_names(void **state)
{
	struct env *e = *state;
	char err[256];
	static const char *const bad[] = {
	    "", "abcdefghijklmnop", ".", "..", "a/b", "a b", "tap%d", "tap\t1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(open_be(e, bad[i], err, sizeof(err)), -EINVAL);
		assert_null(e->c.be);
		assert_true(err[0] != 0);
	}
	/* 15 characters is the longest name; 16 is refused before anything is created */
	assert_int_equal(open_be(e, "abcdefghijklmnop", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "15"));
	assert_int_equal(if_nametoindex("abcdefghijklmno"), 0);
}

static void test_foreign_backends(void **state)
{
	struct env *e = *state;
	char err[256];
	static const char *const foreign[] = {"netgraph", "netmap:em0", "vale0:1", "slirp"};
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		assert_int_equal(open_be(e, foreign[i], err, sizeof(err)), -ENOTSUP);
		assert_non_null(strstr(err, "not available"));
	}
	assert_int_equal(
	    netbe_open(&e->c.be, "tap0", "bogus", "t", e->ev, consume, &e->c, err, sizeof(err)),
	    -ENOTSUP);
	assert_non_null(strstr(err, "unknown"));
	assert_int_equal(
	    netbe_open(&e->c.be, "x", "netgraph", "t", e->ev, consume, &e->c, err, sizeof(err)),
	    -ENOTSUP);
	/* netbe_open_config: the backend key is required */
	struct cfgnode *cfg = config_new();
	assert_int_equal(
	    netbe_open_config(&e->c.be, cfg, "t", e->ev, consume, &e->c, err, sizeof(err)),
	    -ENOENT);
	config_free(cfg);
}

static void test_fd_spec_errors(void **state)
{
	struct env *e = *state;
	char err[256];
	assert_int_equal(open_be(e, "fd:", err, sizeof(err)), -EINVAL);
	assert_int_equal(open_be(e, "fd:x", err, sizeof(err)), -EINVAL);
	assert_int_equal(open_be(e, "fd:-1", err, sizeof(err)), -EINVAL);
	assert_int_equal(open_be(e, "fd:3x", err, sizeof(err)), -EINVAL);
	assert_int_equal(open_be(e, "fd:99999999999", err, sizeof(err)), -EINVAL);
	assert_int_equal(open_be(e, "fd:987654", err, sizeof(err)), -EBADF);
	/* a stream socket has no frame boundaries */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	char spec[32];
	snprintf(spec, sizeof(spec), "fd:%d", sv[0]);
	assert_int_equal(open_be(e, spec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "datagram"));
	close(sv[0]);
	close(sv[1]);
	/* neither a socket nor a tap */
	int fd = open("/dev/null", O_RDWR);
	snprintf(spec, sizeof(spec), "fd:%d", fd);
	assert_int_equal(open_be(e, spec, err, sizeof(err)), -EINVAL);
	close(fd);
	assert_null(e->c.be);
}

/* ---- the fd: backend over a socket pair ---- */

static void test_socket_backend(void **state)
{
	struct env *e = *state;
	char err[256], spec[32];
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	snprintf(spec, sizeof(spec), "fd:%d", sv[0]);
	assert_int_equal(open_be(e, spec, err, sizeof(err)), 0);
	struct net_backend *be = e->c.be;
	assert_false(netbe_vnet_hdr_supported(be));
	assert_int_equal(netbe_set_vnet_hdr_len(be, HDR), -ENOTSUP);
	assert_int_equal(netbe_offloads(be), 0);
	assert_null(netbe_ifname(be));
	assert_non_null(strstr(netbe_describe(be), "socket"));

	/* paused at open: nothing is delivered */
	uint8_t f[200], g[200];
	make_frame(f, 1, 100);
	assert_int_equal(send(sv[1], f, 100, 0), 100);
	assert_false(wait_none(&e->c, 0, 1));
	netbe_rx_resume(be);
	assert_true(wait_frames(&e->c, 1, 1));
	assert_int_equal(e->c.len[0], 100);
	assert_memory_equal(e->c.frame[0], f, 100);

	/* sending, gathered from two pieces */
	struct iovec v[2] = {{f, 20}, {f + 20, 80}};
	assert_int_equal(netbe_send(be, v, 2), 100);
	assert_int_equal(recv(sv[1], g, sizeof(g), MSG_DONTWAIT), 100);
	assert_memory_equal(f, g, 100);

	/* a frame larger than the buffer: cut, and the length says it filled everything */
	netbe_rx_pause(be);
	make_frame(f, 2, 150);
	assert_int_equal(send(sv[1], f, 150, 0), 150);
	uint8_t small[64];
	struct iovec sv1 = {small, sizeof(small)};
	assert_int_equal(netbe_recv(be, &sv1, 1), 64);
	assert_int_equal(netbe_recv(be, &sv1, 1), 0); /* the rest of it is gone */

	struct netbe_stats st;
	netbe_get_stats(be, &st);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(st.tx_bytes, 100);
	assert_int_equal(st.rx_packets, 2);
	netbe_count_rx_drop(be);
	netbe_get_stats(be, &st);
	assert_int_equal(st.rx_drops, 1);

	/* the peer goes away: reading says so, sending drops and counts */
	close(sv[1]);
	assert_int_equal(netbe_recv(be, &sv1, 1), -EPIPE);
	assert_true(netbe_send(be, v, 2) < 0);
	netbe_get_stats(be, &st);
	assert_int_equal(st.tx_drops, 1);
}

/* A datagram socket that nobody reads fills up: sends drop instead of blocking. */
static void test_socket_send_never_blocks(void **state)
{
	struct env *e = *state;
	char err[256], spec[32];
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	snprintf(spec, sizeof(spec), "fd:%d", sv[0]);
	assert_int_equal(open_be(e, spec, err, sizeof(err)), 0);
	uint8_t f[1500];
	make_frame(f, 3, sizeof(f));
	struct iovec v = {f, sizeof(f)};
	int sent = 0, dropped = 0;
	for (int i = 0; i < 2000; i++) {
		ssize_t n = netbe_send(e->c.be, &v, 1);
		if (n == (ssize_t)sizeof(f))
			sent++;
		else
			dropped++;
	}
	assert_true(sent > 0);
	assert_true(dropped > 0);
	struct netbe_stats st;
	netbe_get_stats(e->c.be, &st);
	assert_int_equal(st.tx_packets, sent);
	assert_int_equal(st.tx_drops, dropped);
	close(sv[1]);
}

/* ---- taps ---- */

static void test_tap_created_and_removed(void **state)
{
	struct env *e = *state;
	NEED_TUN();
	char err[256];
	assert_int_equal(if_nametoindex(e->ifname), 0);
	assert_int_equal(open_be(e, e->ifname, err, sizeof(err)), 0);
	struct net_backend *be = e->c.be;
	assert_true(if_nametoindex(e->ifname) > 0);
	assert_string_equal(netbe_ifname(be), e->ifname);
	assert_non_null(strstr(netbe_describe(be), "(created)"));
	assert_true(if_flags(e->ifname) & IFF_UP);
	assert_true(netbe_vnet_hdr_supported(be));
	assert_int_equal(netbe_set_vnet_hdr_len(be, NETBE_VNET_HDR_LEN), 0);
	assert_int_equal(netbe_set_vnet_hdr_len(be, HDR), 0);
	assert_int_equal(netbe_set_vnet_hdr_len(be, 7), -EINVAL);
	netbe_close(be);
	e->c.be = NULL;
	assert_int_equal(if_nametoindex(e->ifname), 0);
}

static int ethtool_get(const char *ifname, uint32_t cmd)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ethtool_value ev = {.cmd = cmd};
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	int rc = ioctl(s, SIOCETHTOOL, &ifr);
	close(s);
	return rc < 0 ? -1 : (int)ev.data;
}

/* What the probe found is what TUNSETOFFLOAD takes, and netbe_set_offload() reaches the
 * kernel: the tap's own TSO and checksum features follow it. */
static void test_tap_offloads(void **state)
{
	struct env *e = *state;
	NEED_TUN();
	char err[256];
	assert_int_equal(open_be(e, e->ifname, err, sizeof(err)), 0);
	struct net_backend *be = e->c.be;
	unsigned off = netbe_offloads(be);
	print_message("tap offloads accepted here: %#x%s%s%s%s%s\n", off,
		      off & NETBE_OFFLOAD_CSUM ? " CSUM" : "",
		      off & NETBE_OFFLOAD_TSO4 ? " TSO4" : "",
		      off & NETBE_OFFLOAD_TSO6 ? " TSO6" : "",
		      off & NETBE_OFFLOAD_ECN ? " ECN" : "", off & NETBE_OFFLOAD_UFO ? " UFO" : "");
	/* every Linux since 2.6.27 takes these */
	assert_true((off & (NETBE_OFFLOAD_CSUM | NETBE_OFFLOAD_TSO4 | NETBE_OFFLOAD_TSO6)) ==
		    (NETBE_OFFLOAD_CSUM | NETBE_OFFLOAD_TSO4 | NETBE_OFFLOAD_TSO6));
	/* after the probe everything is off again */
	assert_int_equal(ethtool_get(e->ifname, ETHTOOL_GTSO), 0);
	assert_int_equal(ethtool_get(e->ifname, ETHTOOL_GTXCSUM), 0);
	assert_int_equal(netbe_set_offload(be, NETBE_OFFLOAD_CSUM | NETBE_OFFLOAD_TSO4), 0);
	assert_int_equal(ethtool_get(e->ifname, ETHTOOL_GTSO), 1);
	assert_int_equal(ethtool_get(e->ifname, ETHTOOL_GTXCSUM), 1);
	/* TSO without checksums means nothing: the kernel gets neither */
	assert_int_equal(netbe_set_offload(be, NETBE_OFFLOAD_TSO4), 0);
	assert_int_equal(ethtool_get(e->ifname, ETHTOOL_GTSO), 0);
	assert_int_equal(ethtool_get(e->ifname, ETHTOOL_GTXCSUM), 0);
	assert_int_equal(netbe_set_offload(be, off), 0);
	assert_int_equal(ethtool_get(e->ifname, ETHTOOL_GTSO), 1);
	assert_int_equal(netbe_set_offload(be, 0), 0);
	assert_int_equal(ethtool_get(e->ifname, ETHTOOL_GTSO), 0);
	/* a bit the tap never offered */
	assert_int_equal(netbe_set_offload(be, 0x80), -ENOTSUP);
}

/* Frames injected on the host side arrive through the rx callback with a virtio-net header;
 * frames the backend sends appear on the interface; pause holds frames back. */
static void test_tap_frames(void **state)
{
	struct env *e = *state;
	NEED_TUN();
	char err[256];
	assert_int_equal(open_be(e, e->ifname, err, sizeof(err)), 0);
	struct net_backend *be = e->c.be;
	int ps = packet_socket(e->ifname);

	/* host -> backend, while paused: held in the tap's queue */
	uint8_t f[1514], g[1600];
	make_frame(f, 7, 300);
	assert_int_equal(send(ps, f, 300, 0), 300);
	assert_false(wait_none(&e->c, 1, 0));
	netbe_rx_resume(be);
	assert_true(wait_frames(&e->c, 1, 1));
	assert_int_equal(e->c.len[0], HDR + 300);
	uint8_t zero[HDR] = {0};
	/* no offloads enabled: no GSO, no partial checksum */
	assert_int_equal(e->c.frame[0][1], 0);	   /* gso_type NONE */
	assert_int_equal(e->c.frame[0][0] & 1, 0); /* not NEEDS_CSUM */
	assert_memory_equal(e->c.frame[0] + 2, zero, 8);
	assert_memory_equal(e->c.frame[0] + HDR, f, 300);

	make_frame(f, 9, 1514);
	assert_int_equal(send(ps, f, 1514, 0), 1514);
	assert_true(wait_frames(&e->c, 2, 1));
	assert_int_equal(e->c.len[1], HDR + 1514);
	assert_memory_equal(e->c.frame[1] + HDR, f, 1514);

	/* backend -> host: header + frame, gathered */
	uint8_t hdr[HDR] = {0};
	make_frame(f, 11, 200);
	struct iovec v[3] = {{hdr, HDR}, {f, 14}, {f + 14, 186}};
	assert_int_equal(netbe_send(be, v, 3), HDR + 200);
	ssize_t n = packet_recv_test_frame(ps, g, sizeof(g));
	assert_int_equal(n, 200);
	assert_memory_equal(g, f, 200);
	/* a malformed header (GSO without a size) is refused by the kernel: dropped, counted */
	uint8_t badhdr[HDR] = {0, 1 /* TCPV4 */};
	struct iovec bv[2] = {{badhdr, HDR}, {f, 200}};
	assert_true(netbe_send(be, bv, 2) < 0);
	/* too short to carry even the header */
	struct iovec sv1 = {hdr, 4};
	assert_true(netbe_send(be, &sv1, 1) < 0);

	struct netbe_stats st;
	netbe_get_stats(be, &st);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(st.tx_bytes, HDR + 200);
	assert_int_equal(st.tx_drops, 2);
	assert_true(st.rx_packets >= 2);

	/* a consumer without buffers pauses: the callback stops, frames wait; resume gets them */
	pthread_mutex_lock(&e->c.lock);
	e->c.pause_on_call = true;
	int calls = e->c.calls;
	pthread_mutex_unlock(&e->c.lock);
	make_frame(f, 13, 100);
	assert_int_equal(send(ps, f, 100, 0), 100);
	assert_true(wait_frames(&e->c, 2, calls + 1));
	usleep(100000);
	pthread_mutex_lock(&e->c.lock);
	assert_int_equal(e->c.calls, calls + 1); /* paused: no busy loop on a readable tap */
	e->c.pause_on_call = false;
	pthread_mutex_unlock(&e->c.lock);
	netbe_rx_resume(be);
	assert_true(wait_frames(&e->c, 3, calls + 2));
	assert_memory_equal(e->c.frame[2] + HDR, f, 100);
	close(ps);
}

/* A tap the administrator made persistent: attached, brought up, then left as it was. */
static void test_tap_persistent_left_in_place(void **state)
{
	struct env *e = *state;
	NEED_TUN();
	char err[256];
	e->persist_fd = make_persistent_tap(e->ifname, false, (uid_t)-1);
	assert_false(if_flags(e->ifname) & IFF_UP);
	/* the test's own descriptor holds the only queue: busy */
	assert_int_equal(open_be(e, e->ifname, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "in use"));
	close(e->persist_fd);
	e->persist_fd = -1;

	assert_int_equal(open_be(e, e->ifname, err, sizeof(err)), 0);
	assert_null(strstr(netbe_describe(e->c.be), "created"));
	assert_true(if_flags(e->ifname) & IFF_UP);
	netbe_close(e->c.be);
	e->c.be = NULL;
	/* still there, and down again */
	assert_true(if_nametoindex(e->ifname) > 0);
	assert_false(if_flags(e->ifname) & IFF_UP);

	/* a tap that was already up stays up */
	e->persist_fd = make_persistent_tap(e->ifname, false, (uid_t)-1);
	close(e->persist_fd);
	e->persist_fd = -1;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", e->ifname);
	ifr.ifr_flags = IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
	assert_int_equal(open_be(e, e->ifname, err, sizeof(err)), 0);
	netbe_close(e->c.be);
	e->c.be = NULL;
	assert_true(if_flags(e->ifname) & IFF_UP);

	/* a persistent multi-queue tap takes only multi-queue attachments: handled */
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq mq = {0};
	snprintf(mq.ifr_name, sizeof(mq.ifr_name), "%s", e->ifname);
	mq.ifr_flags = IFF_TAP | IFF_NO_PI;
	assert_int_equal(ioctl(fd, TUNSETIFF, &mq), 0);
	assert_int_equal(ioctl(fd, TUNSETPERSIST, 0), 0);
	close(fd);
	assert_int_equal(if_nametoindex(e->ifname), 0);
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	mq.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
	assert_int_equal(ioctl(fd, TUNSETIFF, &mq), 0);
	assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
	close(fd);
	assert_int_equal(open_be(e, e->ifname, err, sizeof(err)), 0);
	netbe_close(e->c.be);
	e->c.be = NULL;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_int_equal(ioctl(fd, TUNSETIFF, &mq), 0);
	e->persist_fd = fd; /* teardown removes it */
}

static void test_not_a_tap(void **state)
{
	struct env *e = *state;
	NEED_TUN();
	char err[256];
	assert_int_equal(open_be(e, "lo", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a tap"));
}

/* Drop CAP_NET_ADMIN from this (child) process. */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		uint32_t bit = CAP_NET_ADMIN / 32 == (unsigned)i ? 1u << (CAP_NET_ADMIN % 32) : 0;
		d[i].effective &= ~bit;
		d[i].permitted &= ~bit;
		d[i].inheritable &= ~bit;
	}
	return syscall(SYS_capset, &h, d) < 0 ? -1 : 0;
}

/* In a child without CAP_NET_ADMIN: open `name`; exit 0 when it fails with `want` and the
 * message contains `text`. */
static int child_open_fails(const char *name, int want, const char *text)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (drop_net_admin() < 0)
			_exit(10);
		struct evloop *ev = evloop_new();
		struct net_backend *be = NULL;
		char err[256] = "";
		int rc = netbe_open(&be, name, NULL, "child", ev, consume, NULL, err, sizeof(err));
		if (rc == 0)
			netbe_close(be);
		_exit(rc == want && strstr(err, text) ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

static void test_tap_permissions(void **state)
{
	struct env *e = *state;
	NEED_TUN();
	/* creating needs CAP_NET_ADMIN */
	assert_int_equal(child_open_fails(e->ifname, -EPERM, "CAP_NET_ADMIN"), 0);
	assert_int_equal(if_nametoindex(e->ifname), 0);
	/* a persistent tap that belongs to someone else */
	e->persist_fd = make_persistent_tap(e->ifname, false, 4242);
	close(e->persist_fd);
	e->persist_fd = -1;
	assert_int_equal(child_open_fails(e->ifname, -EPERM, "another user"), 0);
	/* cleanup: root may attach anyway */
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", e->ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	e->persist_fd = fd;
}

/* The interface is deleted while the backend holds it: the event loop does not spin on the
 * error, sends are dropped and counted. */
static void test_tap_deleted(void **state)
{
	struct env *e = *state;
	NEED_TUN();
	if (access("/usr/sbin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0)
		skip();
	char err[256], cmd[64];
	e->persist_fd = make_persistent_tap(e->ifname, false, (uid_t)-1);
	close(e->persist_fd);
	e->persist_fd = -1;
	assert_int_equal(open_be(e, e->ifname, err, sizeof(err)), 0);
	netbe_rx_resume(e->c.be);
	snprintf(cmd, sizeof(cmd), "ip link del %s", e->ifname);
	assert_int_equal(system(cmd), 0);
	usleep(100000);
	pthread_mutex_lock(&e->c.lock);
	int calls = e->c.calls;
	pthread_mutex_unlock(&e->c.lock);
	usleep(100000);
	pthread_mutex_lock(&e->c.lock);
	assert_int_equal(e->c.calls, calls); /* not called again and again */
	pthread_mutex_unlock(&e->c.lock);
	uint8_t f[HDR + 60] = {0};
	make_frame(f + HDR, 1, 60);
	struct iovec v = {f, sizeof(f)};
	assert_true(netbe_send(e->c.be, &v, 1) < 0);
	struct netbe_stats st;
	netbe_get_stats(e->c.be, &st);
	assert_int_equal(st.tx_drops, 1);
	netbe_rx_pause(e->c.be);
	netbe_rx_resume(e->c.be);
}

/* fd:N with a tap opened elsewhere (as a privileged parent would pass it). */
static void test_tap_fd(void **state)
{
	struct env *e = *state;
	NEED_TUN();
	char err[256], spec[32];
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", e->ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	snprintf(spec, sizeof(spec), "fd:%d", fd);
	assert_int_equal(open_be(e, spec, err, sizeof(err)), 0);
	assert_true(netbe_vnet_hdr_supported(e->c.be));
	assert_true(netbe_offloads(e->c.be) & NETBE_OFFLOAD_CSUM);
	assert_string_equal(netbe_ifname(e->c.be), e->ifname);
	netbe_close(e->c.be); /* adopted: closed, and the tap goes with it */
	e->c.be = NULL;
	assert_int_equal(if_nametoindex(e->ifname), 0);

	/* a tun (IP, not Ethernet) is refused (under a new name: the kernel may still be
	 * releasing the old one) */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.12su", e->ifname);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	snprintf(spec, sizeof(spec), "fd:%d", fd);
	assert_int_equal(open_be(e, spec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a tap"));
	close(fd);
}

int main(void)
{
	have_tun = tun_available();
	if (!have_tun)
		print_message("no /dev/net/tun or not root: tap tests are skipped\n");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_legacy_config),
	    cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_backends, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fd_spec_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_backend, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_send_never_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_created_and_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_offloads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_persistent_left_in_place, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_tap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_permissions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_deleted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_fd, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
