/* SPDX-License-Identifier: BSD-2-Clause */
/* bhyvectl: control a running VM through its control socket (bhyvectl(8)'s user-facing options;
 * `--list` and `--status` are extensions). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctlclient.h"
#include "ctl/ctlproto.h"
#include "ctl/migconnect.h"

#define REPLY_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 30000 /* destroy/force-*: until the VM's bhyve has let go of it */
#define CHECKPOINT_TIMEOUT_MS 3600000 /* writing a large guest's RAM to a slow disk */
#define LIST_TIMEOUT_MS 2000

static const char *prog = "bhyvectl";

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: %s --vm=<name> [--destroy | --force-reset | --force-poweroff | --poweroff]\n"
	    "       %*s [--get-stats] [--status] [--checkpoint=<file> | --suspend=<file>]\n"
	    "       %*s [--migrate=<host>:<port> [--migrate-downtime=<ms>]]\n"
	    "       %s --list\n"
	    "\n"
	    "  --vm=<name>        the VM (required except with --list)\n"
	    "  --destroy          stop the VM at once; its bhyve exits with status 4\n"
	    "  --force-reset      reset the VM at once; its bhyve exits with status 0\n"
	    "  --force-poweroff   power the VM off at once; its bhyve exits with status 1\n"
	    "  --poweroff         press the VM's ACPI power button (as SIGTERM to bhyve)\n"
	    "  --get-stats        print the VM's counters\n"
	    "  --status           print the VM's name, pid, uptime, vCPUs and memory\n"
	    "  --checkpoint=<file>  save the running guest: RAM in <file>, vCPU and device\n"
	    "                     state in <file>.kern, its description in <file>.meta; the\n"
	    "                     guest keeps running (bhyve -r <file> brings it back)\n"
	    "  --suspend=<file>   the same, then the VM stops; its bhyve exits with status 5\n"
	    "  --migrate=<host>:<port>  send the running guest live to a bhyve -R waiting there\n"
	    "                     (same options, shared or copied disks); this VM's bhyve then\n"
	    "                     exits with status 5; on failure the guest runs on here\n"
	    "  --migrate-downtime=<ms>  the pause to aim for (default 300)\n"
	    "  --list             list running VMs (name and pid)\n"
	    "With --vm alone, the exit status says whether the VM is running.\n",
	    prog, (int)strlen(prog), "", (int)strlen(prog), "", prog);
}

/* FreeBSD bhyvectl options kbhyve does not provide: a message better than "unknown option". */
static const char *unsupported_reason(const char *opt)
{
	static const char *const dev_prefixes[] = {
	    "get-",	      "set-", "desc-", "getcap",	   "setcap",
	    "capname",	      "cpu",  "run",   "assert-lapic-lvt", "rtc-nvram-offset",
	    "unassign-pptdev"};
	if (strcmp(opt, "create") == 0)
		return "a kbhyve VM exists while its bhyve process runs; start bhyve instead";
	if (strcmp(opt, "inject-nmi") == 0)
		return "NMI injection is not supported";
	for (size_t i = 0; i < sizeof(dev_prefixes) / sizeof(dev_prefixes[0]); i++)
		if (strncmp(opt, dev_prefixes[i], strlen(dev_prefixes[i])) == 0)
			return "FreeBSD's developer options (registers, VMCS, capabilities...) are "
			       "not supported";
	return NULL;
}

/* The option word of argv[i] without its dashes and "=value". */
static void option_name(const char *arg, char *buf, size_t len)
{
	while (*arg == '-')
		arg++;
	size_t n = strcspn(arg, "=");
	snprintf(buf, len, "%.*s", (int)n, arg);
}

static void print_data(const char *key, const char *value, void *opaque)
{
	(void)opaque;
	printf("%s %s\n", key, value);
}

struct status_info {
	char name[CTL_NAME_MAX + 1];
	char pid[24];
};

static void collect_status(const char *key, const char *value, void *opaque)
{
	struct status_info *si = opaque;
	if (strcmp(key, "name") == 0)
		snprintf(si->name, sizeof(si->name), "%s", value);
	else if (strcmp(key, "pid") == 0)
		snprintf(si->pid, sizeof(si->pid), "%s", value);
}

static int cmp_status(const void *a, const void *b)
{
	return strcmp(((const struct status_info *)a)->name, ((const struct status_info *)b)->name);
}

/* One line per VM that answers on its socket: "NAME PID", sorted by name. Stale sockets
 * are skipped. */
static int list_vms(void)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], err[512];
	if (ctl_vmm_dir(dir, sizeof(dir), err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0; /* no VM has run yet */
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
		return 1;
	}
	struct status_info *vms = NULL;
	size_t n = 0, cap = 0;
	int status = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char path[sizeof(dir)];
		struct stat st;
		if (ctl_socket_path(de->d_name, path, sizeof(path), err, sizeof(err)) < 0 ||
		    lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		struct ctl_conn c;
		int rc = ctl_connect(&c, path, LIST_TIMEOUT_MS, err, sizeof(err));
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			continue; /* gone meanwhile, or stale */
		struct status_info si = {"", "?"};
		if (rc == 0)
			rc = ctl_request(&c, "status", collect_status, &si, LIST_TIMEOUT_MS, err,
					 sizeof(err));
		ctl_disconnect(&c);
		if (rc) {
			fprintf(stderr, "%s: %s: %s\n", prog, de->d_name, err);
			status = 1;
			continue;
		}
		if (!si.name[0])
			snprintf(si.name, sizeof(si.name), "%.*s", CTL_NAME_MAX, de->d_name);
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct status_info *p = realloc(vms, ncap * sizeof(*vms));
			if (!p) {
				fprintf(stderr, "%s: out of memory\n", prog);
				status = 1;
				break;
			}
			vms = p;
			cap = ncap;
		}
		vms[n++] = si;
	}
	closedir(d);
	if (n)
		qsort(vms, n, sizeof(*vms), cmp_status);
	for (size_t i = 0; i < n; i++)
		printf("%s %s\n", vms[i].name, vms[i].pid);
	free(vms);
	return status;
}

/* Send one request to the VM; print its data lines when `print`. */
static int request(struct ctl_conn *c, const char *vm, const char *req, bool print)
{
	char err[CTL_REPLY_LINE_MAX + 64];
	int rc = ctl_request(c, req, print ? print_data : NULL, NULL, REPLY_TIMEOUT_MS, err,
			     sizeof(err));
	if (rc) {
		fprintf(stderr, "%s: VM '%s': %s\n", prog, vm, err);
		return 1;
	}
	return 0;
}

/* --checkpoint/--suspend: the files are written under temporary names and renamed into place
 * once bhyve says they are complete (the .meta last), so a failed checkpoint leaves an earlier
 * snapshot of the same name as it was. */
static const char *const snap_suffix[3] = {"", ".kern", ".meta"};

static void snap_paths(const char *file, int i, bool tmp, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", file, snap_suffix[i], tmp ? ".new" : "");
}

static int checkpoint(struct ctl_conn *c, const char *vm, const char *file, bool suspend)
{
	char path[3][PATH_MAX], dest[PATH_MAX];
	int fds[3] = {-1, -1, -1}, ret = 1;
	for (int i = 0; i < 3; i++) {
		snap_paths(file, i, true, path[i], sizeof(path[i]));
		fds[i] = open(path[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fds[i] < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, path[i], strerror(errno));
			goto out;
		}
	}
	char err[CTL_REPLY_LINE_MAX + 64];
	int rc = ctl_request_fds(c, suspend ? "suspend" : "checkpoint", fds, 3, print_data, NULL,
				 CHECKPOINT_TIMEOUT_MS, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s: VM '%s': %s\n", prog, vm, err);
		goto out;
	}
	snap_paths(file, 2, false, dest, sizeof(dest));
	unlink(dest); /* an older snapshot is never left half replaced with a .meta */
	for (int i = 0; i < 3; i++) {
		snap_paths(file, i, false, dest, sizeof(dest));
		if (rename(path[i], dest) < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, dest, strerror(errno));
			goto out;
		}
		path[i][0] = '\0';
	}
	ret = 0;
out:
	for (int i = 0; i < 3; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		if (fds[i] >= 0 && path[i][0])
			unlink(path[i]);
	}
	return ret;
}

static int migrate(struct ctl_conn *c, const char *vm, const char *dest, const char *downtime)
{
	char req[64] = "migrate";
	if (downtime) {
		char *end;
		long v = strtol(downtime, &end, 10);
		if (!*downtime || *end || v < 1 || v > 3600000) {
			fprintf(stderr, "%s: --migrate-downtime=%s: milliseconds, 1-3600000\n", prog,
				downtime);
			return 1;
		}
		snprintf(req, sizeof(req), "migrate %ld", v);
	}
	char err[CTL_REPLY_LINE_MAX + 64];
	int fd = migrate_connect(dest, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "%s: --migrate=%s\n", prog, err);
		return 1;
	}
	int rc = ctl_request_fds(c, req, &fd, 1, print_data, NULL, CHECKPOINT_TIMEOUT_MS, err,
				 sizeof(err));
	close(fd);
	if (rc) {
		fprintf(stderr, "%s: VM '%s': %s\n", prog, vm, err);
		return 1;
	}
	return 0;
}

enum {
	OPT_VM = 256,
	OPT_DESTROY,
	OPT_FORCE_RESET,
	OPT_FORCE_POWEROFF,
	OPT_POWEROFF,
	OPT_GET_STATS,
	OPT_STATUS,
	OPT_LIST,
	OPT_HELP,
	OPT_CHECKPOINT,
	OPT_SUSPEND,
	OPT_MIGRATE,
	OPT_MIGRATE_DOWNTIME,
};

/* The requests of the VM-stopping options, which are also their option names. */
static const char *const stop_requests[] = {
    [OPT_DESTROY - OPT_DESTROY] = "destroy",
    [OPT_FORCE_RESET - OPT_DESTROY] = "force-reset",
    [OPT_FORCE_POWEROFF - OPT_DESTROY] = "force-poweroff",
    [OPT_POWEROFF - OPT_DESTROY] = "poweroff",
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"vm", required_argument, NULL, OPT_VM},
	    {"destroy", no_argument, NULL, OPT_DESTROY},
	    {"force-reset", no_argument, NULL, OPT_FORCE_RESET},
	    {"force-poweroff", no_argument, NULL, OPT_FORCE_POWEROFF},
	    {"poweroff", no_argument, NULL, OPT_POWEROFF},
	    {"get-stats", no_argument, NULL, OPT_GET_STATS},
	    {"status", no_argument, NULL, OPT_STATUS},
	    {"list", no_argument, NULL, OPT_LIST},
	    {"help", no_argument, NULL, OPT_HELP},
	    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
	    {"suspend", required_argument, NULL, OPT_SUSPEND},
	    {"migrate", required_argument, NULL, OPT_MIGRATE},
	    {"migrate-downtime", required_argument, NULL, OPT_MIGRATE_DOWNTIME},
	    {NULL, 0, NULL, 0},
	};
	const char *vm = NULL;
	bool stats = false, status = false, list = false;
	int stop_opt = 0;
	const char *snap_file = NULL, *migrate_to = NULL, *downtime = NULL;
	bool suspend = false;

	/* getopt_long takes any unambiguous prefix: "--d" would destroy the guest. Options that stop
	 * a guest must not be typed by accident, so every long option is its whole name. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strncmp(argv[i], "--", 2) != 0)
			continue;
		size_t n = strcspn(argv[i] + 2, "=");
		const char *full = NULL;
		bool exact = false;
		for (const struct option *op = opts; op->name; op++) {
			if (strlen(op->name) == n && strncmp(op->name, argv[i] + 2, n) == 0)
				exact = true;
			else if (n > 0 && strncmp(op->name, argv[i] + 2, n) == 0)
				full = op->name;
		}
		if (!exact && full) {
			fprintf(stderr, "%s: %.*s: give the option's whole name (--%s?)\n", prog,
				(int)(n + 2), argv[i], full);
			return 1;
		}
		if (exact && strcmp(argv[i], "--vm") == 0)
			i++; /* its value */
	}
	opterr = 0; /* our own messages */
	int o;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (o) {
		case OPT_VM:
			vm = optarg;
			break;
		case OPT_DESTROY:
		case OPT_FORCE_RESET:
		case OPT_FORCE_POWEROFF:
		case OPT_POWEROFF:
			if (stop_opt && stop_opt != o) {
				fprintf(stderr, "%s: --%s and --%s cannot be combined\n", prog,
					stop_requests[stop_opt - OPT_DESTROY],
					stop_requests[o - OPT_DESTROY]);
				return 1;
			}
			stop_opt = o;
			break;
		case OPT_GET_STATS:
			stats = true;
			break;
		case OPT_STATUS:
			status = true;
			break;
		case OPT_LIST:
			list = true;
			break;
		case OPT_CHECKPOINT:
		case OPT_SUSPEND:
			if (snap_file) {
				fprintf(stderr, "%s: give one --checkpoint or --suspend\n", prog);
				return 1;
			}
			if (!*optarg) {
				fprintf(stderr, "%s: --%s needs a file name\n", prog,
					o == OPT_SUSPEND ? "suspend" : "checkpoint");
				return 1;
			}
			snap_file = optarg;
			suspend = o == OPT_SUSPEND;
			break;
		case OPT_MIGRATE:
			migrate_to = optarg;
			break;
		case OPT_MIGRATE_DOWNTIME:
			downtime = optarg;
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "%s: option %s needs a value\n", prog, argv[optind - 1]);
			usage(stderr);
			return 1;
		default: {
			const char *arg = argv[optind - 1];
			char name[64];
			option_name(arg, name, sizeof(name));
			if (optopt >= OPT_VM) {
				fprintf(stderr, "%s: option --%s takes no value\n", prog, name);
			} else if (optopt) {
				fprintf(stderr, "%s: unknown option -%c\n", prog, optopt);
			} else {
				const char *why = unsupported_reason(name);
				if (why) {
					fprintf(stderr, "%s: --%s: %s\n", prog, name, why);
					return 1;
				}
				fprintf(stderr, "%s: unknown option %s\n", prog, arg);
			}
			usage(stderr);
			return 1;
		}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		usage(stderr);
		return 1;
	}
	if (downtime && !migrate_to) {
		fprintf(stderr, "%s: --migrate-downtime goes with --migrate\n", prog);
		return 1;
	}
	if (migrate_to && (snap_file || stop_opt)) {
		fprintf(stderr, "%s: --migrate cannot be combined with --%s\n", prog,
			snap_file ? (suspend ? "suspend" : "checkpoint")
				  : stop_requests[stop_opt - OPT_DESTROY]);
		return 1;
	}
	if (snap_file && stop_opt) {
		fprintf(stderr, "%s: --%s cannot be combined with --%s\n", prog,
			suspend ? "suspend" : "checkpoint", stop_requests[stop_opt - OPT_DESTROY]);
		return 1;
	}
	if (list) {
		if (vm || stop_opt || stats || status || snap_file || migrate_to) {
			fprintf(stderr, "%s: --list takes no other options\n", prog);
			return 1;
		}
		return list_vms();
	}
	if (!vm) {
		fprintf(stderr, "%s: --vm=<name> is required\n", prog);
		usage(stderr);
		return 1;
	}

	char path[sizeof(((struct sockaddr_un *)0)->sun_path)], err[CTL_REPLY_LINE_MAX + 64];
	if (ctl_socket_path(vm, path, sizeof(path), err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	struct ctl_conn c;
	int rc = ctl_connect(&c, path, REPLY_TIMEOUT_MS, err, sizeof(err));
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		fprintf(stderr, "%s: VM '%s' is not running\n", prog, vm);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "%s: VM '%s': %s\n", prog, vm, err);
		return 1;
	}
	int ret = 0;
	if (status)
		ret |= request(&c, vm, "status", true);
	if (stats)
		ret |= request(&c, vm, "stats", true);
	if (ret == 0 && snap_file) {
		ret = checkpoint(&c, vm, snap_file, suspend);
		/* --suspend returns once the VM is gone, as the stop options do */
		if (ret == 0 && suspend && ctl_wait_closed(&c, STOP_TIMEOUT_MS) < 0) {
			fprintf(stderr, "%s: VM '%s' did not stop within %d seconds\n", prog, vm,
				STOP_TIMEOUT_MS / 1000);
			ret = 1;
		}
	}
	if (ret == 0 && migrate_to) {
		ret = migrate(&c, vm, migrate_to, downtime);
		/* the source's bhyve exits once the destination runs the guest */
		if (ret == 0 && ctl_wait_closed(&c, STOP_TIMEOUT_MS) < 0) {
			fprintf(stderr, "%s: VM '%s' did not stop within %d seconds\n", prog, vm,
				STOP_TIMEOUT_MS / 1000);
			ret = 1;
		}
	}
	if (ret == 0 && stop_opt) {
		ret = request(&c, vm, stop_requests[stop_opt - OPT_DESTROY], false);
		/* like FreeBSD's, return once the VM is gone (not for the power button: the
		 * guest decides when) */
		if (ret == 0 && stop_opt != OPT_POWEROFF &&
		    ctl_wait_closed(&c, STOP_TIMEOUT_MS) < 0) {
			fprintf(stderr, "%s: VM '%s' did not stop within %d seconds\n", prog, vm,
				STOP_TIMEOUT_MS / 1000);
			ret = 1;
		}
	}
	ctl_disconnect(&c);
	return ret ? 1 : 0;
}
