/* SPDX-License-Identifier: BSD-2-Clause */
/* rtnetlink through libnl-route-3: see netlink.h. */
#include "vm/netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/vlan.h>

struct vnl {
	struct nl_sock *sk;
};

/* libnl's error codes as errno values (libnl folds many errnos into one code; these are the
 * ones the callers tell apart). */
static int nlerr(int e)
{
	if (e >= 0)
		return e;
	switch (-e) {
	case NLE_EXIST:
		return -EEXIST;
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	case NLE_BAD_SOCK:
		return -EBADF;
	default:
		return -EIO;
	}
}

int vnl_open(struct vnl **out, char *err, size_t errlen)
{
	struct vnl *v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	v->sk = nl_socket_alloc();
	if (!v->sk) {
		free(v);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = nl_connect(v->sk, NETLINK_ROUTE);
	if (rc < 0) {
		snprintf(err, errlen, "cannot open a netlink socket: %s", nl_geterror(rc));
		nl_socket_free(v->sk);
		free(v);
		return nlerr(rc);
	}
	*out = v;
	return 0;
}

void vnl_close(struct vnl *v)
{
	if (!v)
		return;
	nl_socket_free(v->sk);
	free(v);
}

static void fill_link(struct rtnl_link *l, struct vnl_link *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s",
		 rtnl_link_get_name(l) ? rtnl_link_get_name(l) : "");
	out->ifindex = rtnl_link_get_ifindex(l);
	out->master = rtnl_link_get_master(l);
	out->mtu = rtnl_link_get_mtu(l);
	unsigned flags = rtnl_link_get_flags(l);
	out->up = flags & IFF_UP;
	out->running = flags & IFF_RUNNING;
	const char *kind = rtnl_link_get_type(l);
	snprintf(out->kind, sizeof(out->kind), "%s", kind ? kind : "");
	if (rtnl_link_is_vlan(l)) {
		out->vlan_id = rtnl_link_vlan_get_id(l);
		out->parent = rtnl_link_get_link(l);
	}
	const char *alias = rtnl_link_get_ifalias(l);
	snprintf(out->alias, sizeof(out->alias), "%s", alias ? alias : "");
	out->rx_bytes = rtnl_link_get_stat(l, RTNL_LINK_RX_BYTES);
	out->tx_bytes = rtnl_link_get_stat(l, RTNL_LINK_TX_BYTES);
}

/* The kernel's current object for link `name`: 0, -ENODEV, -errno. */
static int get_kernel(struct vnl *v, const char *name, struct rtnl_link **out)
{
	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return -ENODEV;
	int rc = rtnl_link_get_kernel(v->sk, 0, name, out);
	return rc < 0 ? nlerr(rc) : 0;
}

int vnl_link_get(struct vnl *v, const char *name, struct vnl_link *out)
{
	struct rtnl_link *l;
	int rc = get_kernel(v, name, &l);
	if (rc < 0)
		return rc;
	fill_link(l, out);
	rtnl_link_put(l);
	return 0;
}

bool vnl_link_exists(struct vnl *v, const char *name)
{
	struct vnl_link l;
	return vnl_link_get(v, name, &l) == 0;
}

int vnl_link_name(struct vnl *v, int ifindex, char out[16])
{
	struct rtnl_link *l;
	int rc = rtnl_link_get_kernel(v->sk, ifindex, NULL, &l);
	if (rc < 0)
		return nlerr(rc);
	snprintf(out, 16, "%s", rtnl_link_get_name(l));
	rtnl_link_put(l);
	return 0;
}

int vnl_bridge_ports(struct vnl *v, int bridge_ifindex, struct vnl_link **out)
{
	struct nl_cache *cache;
	int rc = rtnl_link_alloc_cache(v->sk, AF_UNSPEC, &cache);
	if (rc < 0)
		return nlerr(rc);
	int n = 0, cap = 0;
	struct vnl_link *ports = NULL;
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		if (rtnl_link_get_master(l) != bridge_ifindex)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct vnl_link *np = realloc(ports, cap * sizeof(*np));
			if (!np) {
				free(ports);
				nl_cache_free(cache);
				return -ENOMEM;
			}
			ports = np;
		}
		fill_link(l, &ports[n++]);
	}
	nl_cache_free(cache);
	*out = ports;
	return n;
}

/* Add a new link described by l (exclusive create). */
static int add_link(struct vnl *v, struct rtnl_link *l)
{
	return nlerr(rtnl_link_add(v->sk, l, NLM_F_CREATE | NLM_F_EXCL));
}

int vnl_bridge_create(struct vnl *v, const char *name)
{
	struct rtnl_link *l = rtnl_link_bridge_alloc();
	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	int rc = add_link(v, l);
	rtnl_link_put(l);
	return rc;
}

int vnl_vlan_create(struct vnl *v, const char *parent, const char *name, int vid)
{
	struct rtnl_link *p;
	int rc = get_kernel(v, parent, &p);
	if (rc < 0)
		return rc;
	int pidx = rtnl_link_get_ifindex(p);
	rtnl_link_put(p);
	struct rtnl_link *l = rtnl_link_vlan_alloc();
	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	rtnl_link_set_link(l, pidx);
	rc = nlerr(rtnl_link_vlan_set_id(l, (uint16_t)vid));
	if (rc == 0)
		rc = add_link(v, l);
	rtnl_link_put(l);
	return rc;
}

/* Attach to tap `name` (made when missing) with the flags bhyve's tap backend attaches with, so
 * that its TUNSETIFF matches: the fd (ifr filled), or -errno (-EINVAL: a device of another kind). */
static int tap_attach(const char *name, struct ifreq *ifr)
{
	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	ifr->ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, ifr) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int vnl_tap_create(const char *name)
{
	struct ifreq ifr;
	int fd = tap_attach(name, &ifr);
	if (fd < 0)
		return fd;
	int rc = ioctl(fd, TUNSETPERSIST, 1L) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int vnl_tap_set_owner(const char *name, uid_t uid, gid_t gid)
{
	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	struct ifreq ifr;
	int fd = tap_attach(name, &ifr);
	if (fd < 0)
		return fd == -EINVAL ? -EBADFD : fd;
	int rc = 0;
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		rc = -errno;
	else if (!(ifr.ifr_flags & IFF_PERSIST))
		rc = -ENODEV; /* there was none: TUNSETIFF made one, gone again at close */
	else if (ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ||
		 ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int vnl_link_delete(struct vnl *v, const char *name)
{
	struct rtnl_link *l;
	int rc = get_kernel(v, name, &l);
	if (rc < 0)
		return rc;
	rc = nlerr(rtnl_link_delete(v->sk, l));
	rtnl_link_put(l);
	return rc;
}

/* Apply the attributes set in `change` to link `name`. */
static int change_link(struct vnl *v, const char *name, struct rtnl_link *change)
{
	struct rtnl_link *orig;
	int rc = get_kernel(v, name, &orig);
	if (rc < 0)
		return rc;
	rc = nlerr(rtnl_link_change(v->sk, orig, change, 0));
	rtnl_link_put(orig);
	return rc;
}

int vnl_link_set_up(struct vnl *v, const char *name, bool up)
{
	struct rtnl_link *c = rtnl_link_alloc();
	if (!c)
		return -ENOMEM;
	if (up)
		rtnl_link_set_flags(c, IFF_UP);
	else
		rtnl_link_unset_flags(c, IFF_UP);
	int rc = change_link(v, name, c);
	rtnl_link_put(c);
	return rc;
}

int vnl_link_set_mtu(struct vnl *v, const char *name, unsigned mtu)
{
	struct rtnl_link *c = rtnl_link_alloc();
	if (!c)
		return -ENOMEM;
	rtnl_link_set_mtu(c, mtu);
	int rc = change_link(v, name, c);
	rtnl_link_put(c);
	return rc;
}

int vnl_link_set_alias(struct vnl *v, const char *name, const char *alias)
{
	struct rtnl_link *c = rtnl_link_alloc();
	if (!c)
		return -ENOMEM;
	rtnl_link_set_ifalias(c, alias);
	int rc = change_link(v, name, c);
	rtnl_link_put(c);
	return rc;
}

int vnl_link_set_master(struct vnl *v, const char *port, const char *bridge)
{
	struct vnl_link p, b = {.ifindex = 0};
	int rc = vnl_link_get(v, port, &p);
	if (rc < 0)
		return rc;
	if (bridge) {
		rc = vnl_link_get(v, bridge, &b);
		if (rc < 0)
			return rc;
		if (strcmp(b.kind, "bridge") != 0)
			return -EINVAL;
		if (p.master == b.ifindex)
			return 0;
		return nlerr(rtnl_link_enslave_ifindex(v->sk, b.ifindex, p.ifindex));
	}
	if (p.master == 0)
		return 0;
	return nlerr(rtnl_link_release_ifindex(v->sk, p.ifindex));
}

/* libnl 3.7 has no setter for IFLA_BRPORT_ISOLATED: send RTM_SETLINK for AF_BRIDGE with the
 * port attribute nested in IFLA_PROTINFO, as `bridge link set ... isolated on` does. */
int vnl_port_set_isolated(struct vnl *v, const char *port, bool on)
{
	struct vnl_link p;
	int rc = vnl_link_get(v, port, &p);
	if (rc < 0)
		return rc;
	if (!p.master)
		return -ENOENT;
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
	if (!msg)
		return -ENOMEM;
	struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = p.ifindex};
	struct nlattr *nest;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    !(nest = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED)) ||
	    nla_put_u8(msg, IFLA_BRPORT_ISOLATED, on ? 1 : 0) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nla_nest_end(msg, nest);
	rc = nl_send_sync(v->sk, msg); /* frees msg */
	return nlerr(rc);
}

struct isolated_query {
	int ifindex;
	int result; /* -ENOENT until the port's message is seen */
};

static int isolated_cb(struct nl_msg *msg, void *arg)
{
	struct isolated_query *q = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	if (h->nlmsg_type != RTM_NEWLINK || !nlmsg_valid_hdr(h, sizeof(struct ifinfomsg)))
		return NL_OK;
	struct ifinfomsg *ifi = nlmsg_data(h);
	if (ifi->ifi_index != q->ifindex)
		return NL_OK;
	struct nlattr *tb[IFLA_MAX + 1];
	if (nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_PROTINFO])
		return NL_OK;
	struct nlattr *pt[IFLA_BRPORT_MAX + 1];
	if (nla_parse_nested(pt, IFLA_BRPORT_MAX, tb[IFLA_PROTINFO], NULL) < 0)
		return NL_OK;
	q->result = pt[IFLA_BRPORT_ISOLATED] ? nla_get_u8(pt[IFLA_BRPORT_ISOLATED]) != 0 : 0;
	return NL_OK;
}

int vnl_port_isolated(struct vnl *v, const char *port)
{
	struct vnl_link p;
	int rc = vnl_link_get(v, port, &p);
	if (rc < 0)
		return rc;
	if (!p.master)
		return -ENOENT;
	/* the kernel answers AF_BRIDGE link requests only as a dump of every port */
	struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE};
	rc = nl_send_simple(v->sk, RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi));
	if (rc < 0)
		return nlerr(rc);
	struct isolated_query q = {.ifindex = p.ifindex, .result = -ENOENT};
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, isolated_cb, &q);
	rc = nl_recvmsgs(v->sk, cb);
	nl_cb_put(cb);
	if (rc < 0)
		return nlerr(rc);
	return q.result;
}

/* cidr parsed as an IPv4 nl_addr with its prefix length. */
static int parse_cidr(const char *cidr, struct nl_addr **out)
{
	int rc = nl_addr_parse(cidr, AF_INET, out);
	if (rc < 0)
		return -EINVAL;
	if (nl_addr_get_family(*out) != AF_INET) {
		nl_addr_put(*out);
		return -EINVAL;
	}
	return 0;
}

int vnl_addr4_add(struct vnl *v, const char *name, const char *cidr)
{
	struct vnl_link l;
	int rc = vnl_link_get(v, name, &l);
	if (rc < 0)
		return rc;
	struct nl_addr *local;
	rc = parse_cidr(cidr, &local);
	if (rc < 0)
		return rc;
	struct rtnl_addr *a = rtnl_addr_alloc();
	if (!a) {
		nl_addr_put(local);
		return -ENOMEM;
	}
	rtnl_addr_set_ifindex(a, l.ifindex);
	rc = nlerr(rtnl_addr_set_local(a, local));
	unsigned plen = nl_addr_get_prefixlen(local);
	if (rc == 0 && plen < 31) {
		/* the broadcast address, as ifconfig sets it on FreeBSD */
		uint32_t ip;
		memcpy(&ip, nl_addr_get_binary_addr(local), 4);
		ip = ntohl(ip) | (plen ? 0xffffffffu >> plen : 0xffffffffu);
		ip = htonl(ip);
		struct nl_addr *bcast = nl_addr_build(AF_INET, &ip, 4);
		if (!bcast)
			rc = -ENOMEM;
		else {
			rc = nlerr(rtnl_addr_set_broadcast(a, bcast));
			nl_addr_put(bcast);
		}
	}
	if (rc == 0)
		rc = nlerr(rtnl_addr_add(v->sk, a, NLM_F_EXCL));
	rtnl_addr_put(a);
	nl_addr_put(local);
	return rc;
}

/* Call fn for each address of ifindex in family (AF_UNSPEC: IPv4 and IPv6); stops at the first
 * error. Count or -errno. */
static int each_addr(struct vnl *v, int ifindex, int family,
		     int (*fn)(struct vnl *, struct rtnl_addr *, void *), void *arg)
{
	struct nl_cache *cache;
	int rc = rtnl_addr_alloc_cache(v->sk, &cache);
	if (rc < 0)
		return nlerr(rc);
	int n = 0;
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		int f = rtnl_addr_get_family(a);
		if (rtnl_addr_get_ifindex(a) != ifindex ||
		    (family == AF_UNSPEC ? f != AF_INET && f != AF_INET6 : f != family))
			continue;
		rc = fn(v, a, arg);
		if (rc < 0) {
			n = rc;
			break;
		}
		n++;
	}
	nl_cache_free(cache);
	return n;
}

static int delete_addr(struct vnl *v, struct rtnl_addr *a, void *arg)
{
	return nlerr(rtnl_addr_delete(v->sk, a, 0));
}

int vnl_addr4_flush(struct vnl *v, const char *name)
{
	struct vnl_link l;
	int rc = vnl_link_get(v, name, &l);
	if (rc < 0)
		return rc;
	return each_addr(v, l.ifindex, AF_INET, delete_addr, NULL);
}

struct addr_text {
	char *out;
	size_t len, used;
};

static int append_addr(struct vnl *v, struct rtnl_addr *a, void *arg)
{
	struct addr_text *t = arg;
	char buf[64];
	nl_addr2str(rtnl_addr_get_local(a), buf, sizeof(buf));
	int n = snprintf(t->out + t->used, t->len - t->used, "%s%s", t->used ? " " : "", buf);
	if (n < 0 || (size_t)n >= t->len - t->used)
		return -ENOSPC;
	t->used += n;
	return 0;
}

int vnl_addr4_list(struct vnl *v, const char *name, char *out, size_t outlen)
{
	if (outlen == 0)
		return -ENOSPC;
	out[0] = 0;
	struct vnl_link l;
	int rc = vnl_link_get(v, name, &l);
	if (rc < 0)
		return rc;
	struct addr_text t = {out, outlen, 0};
	return each_addr(v, l.ifindex, AF_INET, append_addr, &t);
}

static int append_host_addr(struct vnl *v, struct rtnl_addr *a, void *arg)
{
	/* fe80::/10 and the like are on every IPv6 link and matter to nobody beyond it */
	if (rtnl_addr_get_family(a) == AF_INET6 && rtnl_addr_get_scope(a) >= RT_SCOPE_LINK)
		return 1;
	return append_addr(v, a, arg);
}

int vnl_addr_list_host(struct vnl *v, const char *name, char *out, size_t outlen)
{
	if (outlen == 0)
		return -ENOSPC;
	out[0] = 0;
	struct vnl_link l;
	int rc = vnl_link_get(v, name, &l);
	if (rc < 0)
		return rc;
	struct addr_text t = {out, outlen, 0};
	rc = each_addr(v, l.ifindex, AF_UNSPEC, append_host_addr, &t);
	return rc < 0 ? rc : (int)(t.used > 0);
}
