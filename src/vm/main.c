/* SPDX-License-Identifier: BSD-2-Clause */
/* vm: the vm-bhyve manager for kbhyve. Subcommands accept unique prefixes, as vm-bhyve's do. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/cmds.h"
#include "vm/settings.h"

#define KBHYVE_VERSION "0.1"

struct command {
	const char *name;
	vm_cmd_fn fn;
	bool needs_init;	/* $vm_dir must exist and be initialised */
};

static const struct command commands[] = {
	{ "init", cmd_init, false },
	{ "get", cmd_get, true },
	{ "set", cmd_set, true },
	{ "switch", cmd_switch, true },
	{ "datastore", cmd_datastore, true },
	{ "list", cmd_list, true },
	{ "info", cmd_info, true },
	{ "create", cmd_create, true },
	{ "destroy", cmd_destroy, true },
	{ "rename", cmd_rename, true },
	{ "snapshot", cmd_snapshot, true },
	{ "rollback", cmd_rollback, true },
	{ "clone", cmd_clone, true },
	{ "image", cmd_image, true },
	{ "iso", cmd_iso, true },
	{ "img", cmd_img, true },
	{ "configure", cmd_configure, true },
	{ "add", cmd_add, true },
	{ "install", cmd_install, true },
	{ "start", cmd_start, true },
	{ "stop", cmd_stop, true },
	{ "restart", cmd_restart, true },
	{ "poweroff", cmd_poweroff, true },
	{ "reset", cmd_reset, true },
	{ "suspend", cmd_suspend, true },
	{ "resume", cmd_resume, true },
	{ "migrate", cmd_migrate, true },
	{ "startall", cmd_startall, true },
	{ "stopall", cmd_stopall, true },
	{ "console", cmd_console, false }, /* checks vm_dir itself: --web HOST:PORT needs none */
	{ "_run", cmd_run_supervisor, true },
	{ "_migrate_in", cmd_migrate_in, true },
};

static void usage(FILE *f)
{
	fprintf(f,
		"kbhyve vm %s: the vm-bhyve manager for bhyve on Linux/KVM\n"
		"Usage: vm ...\n"
		"    version\n"
		"    init\n"
		"    set [setting=value] [...]\n"
		"    get [all|setting] [...]\n"
		"    switch list\n"
		"    switch info [name] [...]\n"
		"    switch create [-t type] [-i interface] [-n vlan-id] [-m mtu] [-a address/prefix-len] [-b bridge] [-p] <name>\n"
		"    switch vlan <switch> <vlan|0>\n"
		"    switch nat <switch> <on|off>\n"
		"    switch private <switch> <on|off>\n"
		"    switch add <switch> <interface>\n"
		"    switch remove <switch> <interface>\n"
		"    switch address <switch> <a.b.c.d/prefix-len|none>\n"
		"    switch import <switch> <bridge>\n"
		"    switch destroy <switch>\n"
		"    datastore list\n"
		"    datastore add <name> <path>|lvm:<vg>/<pool>\n"
		"    datastore remove <name>\n"
		"    list [-j]\n"
		"    info [name] [...]\n"
		"    create [-d datastore] [-t template] [-s size] [-c vcpus] [-m memory] [-i image]\n"
		"           [-C [-k keyfile] [-n ip=a/len;gateway=gw;nameservers=a,b;hostname=h] [-u user]] <name>\n"
		"    destroy [-f] <name>\n"
		"    destroy <name>@<snapshot>\n"
		"    rename <name> <new-name>\n"
		"    snapshot [-f] <name>[@<snapshot>]\n"
		"    rollback [-r] <name>@<snapshot>\n"
		"    clone [-u] <name>[@<snapshot>] <new-name>\n"
		"    add [-d device] [-t type] [-s size|switch] <name>\n"
		"    image list\n"
		"    image create [-d description] [-u] <name>\n"
		"    image provision [-d datastore] <uuid> <new-name>\n"
		"    image destroy <uuid>\n"
		"    iso [-c sha256] [url]\n"
		"    img [-c sha256] [url]\n"
		"    install [-fi] <name> <iso>\n"
		"    start [-fi] <name> [...]\n"
		"    stop <name> [...]\n"
		"    restart <name>\n"
		"    poweroff [-f] <name>\n"
		"    reset [-f] <name>\n"
		"    suspend <name>\n"
		"    resume [-fi] <name>\n"
		"    migrate [-c] [-d datastore] [-t downtime_ms] <name> <host>\n"
		"    console <name> [com1|com2]\n"
		"    console --web [-l address] [-p port] <name>|<host:port>\n"
		"    configure <name>\n"
		"    startall\n"
		"    stopall [-f]\n",
		KBHYVE_VERSION);
}

/* The command named by arg: exact, else the only one it is a prefix of. */
static const struct command *find_command(const char *arg, char *err, size_t errlen)
{
	const struct command *match = NULL;
	int n = 0;
	size_t len = strlen(arg);
	char names[256] = "";
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, arg) == 0)
			return &commands[i];
		if (len && arg[0] != '_' && strncmp(commands[i].name, arg, len) == 0) {
			match = &commands[i];
			size_t l = strlen(names);
			snprintf(names + l, sizeof(names) - l, "%s%s", n ? ", " : "", commands[i].name);
			n++;
		}
	}
	if (n == 1)
		return match;
	/* one line, not the whole usage: the mistake stays visible */
	if (n)
		snprintf(err, errlen, "'%s' is ambiguous (%s): give more of the command", arg, names);
	else
		snprintf(err, errlen, "unknown command '%s' (vm help lists the commands)", arg);
	return NULL;
}

int main(int argc, char **argv)
{
	char err[512];
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	const char *arg = argv[1];
	if (!strcmp(arg, "version") || !strcmp(arg, "-v") || !strcmp(arg, "--version")) {
		printf("kbhyve vm %s\n", KBHYVE_VERSION);
		return 0;
	}
	if (!strcmp(arg, "usage") || !strcmp(arg, "help") || !strcmp(arg, "-h") || !strcmp(arg, "--help")) {
		usage(stdout);
		return 0;
	}
	const struct command *cmd = find_command(arg, err, sizeof(err));
	if (!cmd) {
		fprintf(stderr, "vm: %s\n", err);
		return 1;
	}
	struct vm_settings s;
	/* vm console --web HOST:PORT serves a VNC server's screen, not a guest's: no vm_dir */
	bool no_dir = cmd->fn == cmd_console && argc >= 4 && !strcmp(argv[2], "--web") &&
		      strchr(argv[argc - 1], ':');
	if (no_dir) {
		memset(&s, 0, sizeof(s));
		settings_locate_programs(&s);
	} else if (settings_load(&s, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s\n", err);
		return 1;
	}
	if (cmd->needs_init && settings_require_init(&s, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s\n", err);
		settings_free(&s);
		return 1;
	}
	int rc = cmd->fn(&s, argc - 1, argv + 1);
	settings_free(&s);
	return rc;
}
