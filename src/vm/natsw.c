/* SPDX-License-Identifier: BSD-2-Clause */
/* NAT for a switch: nftables masquerade and dnsmasq (see natsw.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctlproto.h"
#include "vm/natsw.h"
#include "vm/runprog.h"

#define LEASE_TIME "12h"

void nat_ip_text(uint32_t a, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

int nat_plan(const char *cidr, struct nat_plan *p, char *err, size_t errlen)
{
	char ip[32];
	const char *slash = strchr(cidr, '/');
	struct in_addr in;
	char *end;
	if (!slash || (size_t)(slash - cidr) >= sizeof(ip)) {
		snprintf(err, errlen, "'%s' is not an IPv4 address with a prefix length", cidr);
		return -EINVAL;
	}
	memcpy(ip, cidr, (size_t)(slash - cidr));
	ip[slash - cidr] = '\0';
	long len = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, ip, &in) != 1 || *end || end == slash + 1 || len < 0 || len > 32) {
		snprintf(err, errlen, "'%s' is not an IPv4 address with a prefix length", cidr);
		return -EINVAL;
	}
	if (len > 30) {
		snprintf(err, errlen, "%s leaves no addresses for guests (NAT needs a prefix of /30 or shorter)", cidr);
		return -EINVAL;
	}
	memset(p, 0, sizeof(*p));
	p->addr = ntohl(in.s_addr);
	p->prefix = (int)len;
	p->mask = len ? 0xffffffffu << (32 - len) : 0;
	p->net = p->addr & p->mask;
	uint32_t bcast = p->net | ~p->mask;
	uint32_t size = ~p->mask + 1u; /* 0 for /0, which is refused below */
	if (len < 8) {
		snprintf(err, errlen, "%s: a subnet that large is not a switch's (NAT takes /8 to /30)", cidr);
		return -EINVAL;
	}
	p->first = p->net + (size > 32 ? 10 : 1);
	p->last = bcast - 1;
	/* the switch's own address is never handed out: the range stops short of it or starts
	 * after it, whichever leaves more */
	if (p->addr >= p->first && p->addr <= p->last) {
		if (p->addr - p->first >= p->last - p->addr)
			p->last = p->addr - 1;
		else
			p->first = p->addr + 1;
	}
	if (p->first > p->last) {
		snprintf(err, errlen, "%s leaves no addresses for guests", cidr);
		return -EINVAL;
	}
	return 0;
}

void nat_table_name(const char *sw, char out[64])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	char clean[40];
	size_t i;
	for (i = 0; sw[i] && i < sizeof(clean) - 1; i++) {
		unsigned char c = (unsigned char)sw[i];
		h = (h ^ c) * 16777619u;
		clean[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? (char)c : '_';
	}
	clean[i] = '\0';
	for (; sw[i]; i++)
		h = (h ^ (unsigned char)sw[i]) * 16777619u;
	snprintf(out, 64, "kbhyve_nat_%s_%08x", clean, h);
}

char *nat_ruleset(const char *table, const char *bridge, const struct nat_plan *p)
{
	char net[16];
	nat_ip_text(p->net, net);
	char *s = NULL;
	/* "table" then "delete table" makes the load replace a table left from before, in one
	 * transaction */
	if (asprintf(&s,
		     "table ip %s\n"
		     "delete table ip %s\n"
		     "table ip %s {\n"
		     "\tchain postrouting {\n"
		     "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		     "\t\tip saddr %s/%d ip daddr != %s/%d oifname != \"%s\" masquerade\n"
		     "\t}\n"
		     "}\n",
		     table, table, table, net, p->prefix, net, p->prefix, bridge) < 0)
		return NULL;
	return s;
}

/* ---- running nft and dnsmasq ---- */

static void nat_files(const char *sw, char pid[PATH_MAX], char leases[PATH_MAX], char dir[PATH_MAX])
{
	snprintf(dir, PATH_MAX, "%s/nat", ctl_run_dir());
	snprintf(pid, PATH_MAX, "%s/nat/%s.pid", ctl_run_dir(), sw);
	snprintf(leases, PATH_MAX, "%s/nat/%s.leases", ctl_run_dir(), sw);
}

bool nat_table_loaded(const char *sw)
{
	char table[64], why[256];
	nat_table_name(sw, table);
	char *argv[] = { "nft", "list", "table", "ip", table, NULL };
	return runprog(argv, NULL, RUNPROG_STDOUT_NULL, why, sizeof(why)) == 0;
}

int nat_dnsmasq_pid(const char *sw)
{
	char pidf[PATH_MAX], leases[PATH_MAX], dir[PATH_MAX];
	nat_files(sw, pidf, leases, dir);
	FILE *f = fopen(pidf, "re");
	if (!f)
		return 0;
	long pid = 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > INT32_MAX)
		pid = 0;
	fclose(f);
	if (!pid)
		return 0;
	/* the pid is this switch's dnsmasq only while its command line names this pid file */
	char path[64], cmd[8192];
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	char want[PATH_MAX + 16];
	snprintf(want, sizeof(want), "--pid-file=%s", pidf);
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(cmd + i) + 1) {
		cmd[n] = '\0';
		if (!strcmp(cmd + i, want))
			return (int)pid;
	}
	return 0;
}

static int stop_dnsmasq(const char *sw, char *err, size_t errlen)
{
	char pidf[PATH_MAX], leases[PATH_MAX], dir[PATH_MAX];
	nat_files(sw, pidf, leases, dir);
	int pid = nat_dnsmasq_pid(sw);
	if (pid > 0) {
		kill(pid, SIGTERM);
		for (int i = 0; i < 50 && kill(pid, 0) == 0; i++) {
			struct timespec t = { 0, 100 * 1000 * 1000 };
			nanosleep(&t, NULL);
		}
		if (kill(pid, 0) == 0) {
			kill(pid, SIGKILL);
			for (int i = 0; i < 20 && kill(pid, 0) == 0; i++) {
				struct timespec t = { 0, 100 * 1000 * 1000 };
				nanosleep(&t, NULL);
			}
		}
		if (kill(pid, 0) == 0) {
			snprintf(err, errlen, "dnsmasq (pid %d) of switch %s does not stop", pid, sw);
			return -EBUSY;
		}
	}
	unlink(pidf);
	unlink(leases);
	return 0;
}

static int delete_table(const char *sw, char *err, size_t errlen)
{
	char table[64], why[512];
	nat_table_name(sw, table);
	char *argv[] = { "nft", "delete", "table", "ip", table, NULL };
	int rc = runprog(argv, NULL, RUNPROG_STDOUT_NULL, why, sizeof(why));
	if (rc == 0 || !nat_table_loaded(sw))
		return 0;
	snprintf(err, errlen, "cannot delete nftables table ip %s: %.300s", table, why);
	return -EIO;
}

int nat_stop(const char *sw, char *err, size_t errlen)
{
	int r = stop_dnsmasq(sw, err, errlen);
	char e2[512];
	int r2 = delete_table(sw, e2, sizeof(e2));
	if (r == 0 && r2 < 0) {
		snprintf(err, errlen, "%s", e2);
		r = r2;
	}
	return r;
}

/* net.ipv4.ip_forward on; 1 when it was off (the caller says so), 0 when it was on, -errno. */
static int forwarding_on(void)
{
	const char *p = "/proc/sys/net/ipv4/ip_forward";
	char v[8] = "";
	int fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, v, sizeof(v) - 1);
	if (n > 0 && v[0] == '1') {
		close(fd);
		return 0;
	}
	int r = pwrite(fd, "1\n", 2, 0) == 2 ? 1 : -errno;
	close(fd);
	return r;
}

int nat_start(const char *sw, const char *bridge, const char *cidr, char *err, size_t errlen)
{
	struct nat_plan p;
	char e[512], why[512];
	if (nat_plan(cidr, &p, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "switch %s: %s", sw, e);
		return -EINVAL;
	}
	char pidf[PATH_MAX], leases[PATH_MAX], dir[PATH_MAX];
	nat_files(sw, pidf, leases, dir);
	if ((mkdir(ctl_run_dir(), 0755) < 0 && errno != EEXIST) || (mkdir(dir, 0755) < 0 && errno != EEXIST)) {
		int er = errno;
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(er));
		return -er;
	}
	int fw = forwarding_on();
	if (fw < 0) {
		snprintf(err, errlen, "cannot turn on net.ipv4.ip_forward: %s", strerror(-fw));
		return fw;
	}
	if (fw == 1)
		fprintf(stderr, "vm switch nat: note: net.ipv4.ip_forward was 0 and is now 1 (NAT forwards the switch's traffic)\n");
	char table[64];
	nat_table_name(sw, table);
	char *rules = nat_ruleset(table, bridge, &p);
	if (!rules) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	char *nft[] = { "nft", "-f", "-", NULL };
	int rc = runprog(nft, rules, RUNPROG_STDOUT_NULL, why, sizeof(why));
	free(rules);
	if (rc != 0) {
		snprintf(err, errlen, "cannot load nftables table ip %s: %.300s", table, why[0] ? why : "nft failed");
		return -EIO;
	}
	/* a dnsmasq of this switch from before (another address): replaced */
	if (stop_dnsmasq(sw, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "%s", e);
		delete_table(sw, e, sizeof(e));
		return -EBUSY;
	}
	char a[16], first[16], last[16], mask[16];
	nat_ip_text(p.addr, a);
	nat_ip_text(p.first, first);
	nat_ip_text(p.last, last);
	nat_ip_text(p.mask, mask);
	char o_pid[PATH_MAX + 16], o_lease[PATH_MAX + 24], o_if[32], o_listen[40], o_range[96],
	    o_router[48], o_dns[48];
	snprintf(o_pid, sizeof(o_pid), "--pid-file=%s", pidf);
	snprintf(o_lease, sizeof(o_lease), "--dhcp-leasefile=%s", leases);
	snprintf(o_if, sizeof(o_if), "--interface=%s", bridge);
	snprintf(o_listen, sizeof(o_listen), "--listen-address=%s", a);
	snprintf(o_range, sizeof(o_range), "--dhcp-range=%s,%s,%s," LEASE_TIME, first, last, mask);
	snprintf(o_router, sizeof(o_router), "--dhcp-option=option:router,%s", a);
	snprintf(o_dns, sizeof(o_dns), "--dhcp-option=option:dns-server,%s", a);
	char *dnsmasq[] = { "dnsmasq", "--conf-file=/dev/null", o_pid, o_lease, o_if,
			    "--bind-interfaces", "--except-interface=lo", o_listen, o_range, o_router,
			    o_dns, "--dhcp-authoritative", "--strict-order", NULL };
	rc = runprog(dnsmasq, NULL, RUNPROG_STDOUT_NULL, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "cannot start dnsmasq on %s: %.300s", bridge, why[0] ? why : "it failed");
		stop_dnsmasq(sw, e, sizeof(e));
		delete_table(sw, e, sizeof(e));
		return -EIO;
	}
	/* dnsmasq writes its pid file before its parent exits: it must be there now */
	if (nat_dnsmasq_pid(sw) <= 0) {
		snprintf(err, errlen, "dnsmasq on %s did not stay up", bridge);
		delete_table(sw, e, sizeof(e));
		return -EIO;
	}
	return 0;
}
