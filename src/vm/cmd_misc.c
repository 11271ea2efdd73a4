/* SPDX-License-Identifier: BSD-2-Clause */
/* vm init, vm get, vm set. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/cmds.h"
#include "vm/vswitch.h"

static bool exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* Copy src to dst (which must not exist): through a temporary file, so dst is whole or absent. */
static int copy_file(const char *src, const char *dst, char *err, size_t errlen)
{
	struct vmconf *c;
	/* templates are config files: parsing checks them before they are installed */
	int r = vmconf_load(&c, src, err, errlen);
	if (r < 0)
		return r;
	r = vmconf_save(c, dst, err, errlen);
	vmconf_free(c);
	return r;
}

/* Copy every shipped sample template (share/templates/NAME.conf) that $vm_dir/.templates lacks;
 * vm-bhyve copies only default.conf and leaves the others among its examples, but a Linux user has
 * no examples folder to look in. Existing templates are never overwritten. */
static void install_templates(const struct vm_settings *s)
{
	char dir[PATH_MAX + 16], src[PATH_MAX + 300], dst[PATH_MAX + 300], err[512];
	snprintf(dir, sizeof(dir), "%s/templates", s->share_dir);
	DIR *d = s->share_dir[0] ? opendir(dir) : NULL;
	if (!d) {
		fprintf(stderr, "vm init: warning: no sample templates found in %s (set $KBHYVE_SHARE)\n",
			s->share_dir[0] ? dir : "any share folder");
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".conf") || e->d_name[0] == '.')
			continue;
		snprintf(src, sizeof(src), "%s/%s", dir, e->d_name);
		snprintf(dst, sizeof(dst), "%s/.templates/%s", s->vm_dir, e->d_name);
		if (!exists(dst) && copy_file(src, dst, err, sizeof(err)) < 0)
			fprintf(stderr, "vm init: warning: template %s: %s\n", e->d_name, err);
	}
	closedir(d);
}

/* The settings `vm set` may change, as in vm-bhyve, with what `vm get` shows when unset. */
static const struct {
	const char *key, *def;
} user_settings[] = {
	{ "console", "pty" },
	{ "compress", "xz -T0" },
	{ "decompress", "xz -d" },
};
#define NSETTINGS (sizeof(user_settings) / sizeof(user_settings[0]))

static int setting_index(const char *key)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (!strcmp(user_settings[i].key, key))
			return (int)i;
	return -1;
}

static const char *check_setting(const char *key, const char *value)
{
	if (!strcmp(key, "console")) {
		if (strcmp(value, "pty") && strcmp(value, "nmdm") && strcmp(value, "tmux"))
			return "console is pty (nmdm is taken as pty) or tmux";
	} else if (!*value) {
		return "the value is empty";
	}
	return NULL;
}

int cmd_init(struct vm_settings *s, int argc, char **argv)
{
	char err[512], p[PATH_MAX + 64];
	if (argc > 1) {
		fprintf(stderr, "vm init: unexpected argument '%s' (usage: vm init)\n", argv[1]);
		return 1;
	}
	struct stat st;
	if (stat(s->vm_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "vm init: vm_dir %s is not a directory: create it first\n", s->vm_dir);
		return 1;
	}
	if (access(s->vm_dir, W_OK) < 0) {
		fprintf(stderr, "vm init: no write access to vm_dir %s (run as root?)\n", s->vm_dir);
		return 1;
	}
	static const char *const dirs[] = { ".config", ".templates", ".iso", ".img" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", s->vm_dir, dirs[i]);
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "vm init: cannot create %s: %s\n", p, strerror(errno));
			return 1;
		}
	}
	int lk, r = settings_lock_system(s, &lk, err, sizeof(err));
	if (r == 0 && !exists(s->sys_path))
		r = settings_save_system(s, err, sizeof(err));
	settings_unlock_system(lk);
	if (r < 0) {
		fprintf(stderr, "vm init: %s\n", err);
		return 1;
	}
	install_templates(s);
	if (access("/dev/kvm", R_OK | W_OK) < 0)
		fprintf(stderr, "vm init: warning: /dev/kvm is %s: guests cannot start (load kvm_intel or kvm_amd)\n",
			exists("/dev/kvm") ? "not accessible" : "missing");
	if (access("/dev/net/tun", R_OK | W_OK) < 0)
		fprintf(stderr, "vm init: warning: /dev/net/tun is %s: guest NICs cannot be created (load the tun module)\n",
			exists("/dev/net/tun") ? "not accessible" : "missing");
	if (!exists("/sys/module/bridge"))
		fprintf(stderr, "vm init: note: the bridge module is not loaded yet (switches load it, or: modprobe bridge)\n");
	/* A switch that cannot be built (an uplink renamed or unplugged, a system.conf from
	 * vm-bhyve with names kbhyve refuses) is reported and init still succeeds: the others are
	 * up, and the unit goes on to `vm startall` (a guest on that switch starts unbridged, with
	 * a warning). */
	if (vswitch_init_all(s, err, sizeof(err)) < 0)
		fprintf(stderr, "vm init: warning: %s\n", err);
	return 0;
}

int cmd_get(struct vm_settings *s, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "vm get: which setting? (usage: vm get all|setting ...)\n");
		return 1;
	}
	/* check every name first: nothing is printed for a bad request */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "all") != 0 && setting_index(argv[i]) < 0) {
			fprintf(stderr, "vm get: unknown setting '%s' (console, compress, decompress)\n", argv[i]);
			return 1;
		}
	}
	for (int i = 1; i < argc; i++) {
		for (size_t j = 0; j < NSETTINGS; j++) {
			if (strcmp(argv[i], "all") != 0 && strcmp(argv[i], user_settings[j].key) != 0)
				continue;
			printf("%s=%s\n", user_settings[j].key,
			       vmconf_get_default(s->sys, user_settings[j].key, user_settings[j].def));
		}
	}
	return 0;
}

int cmd_set(struct vm_settings *s, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "vm set: nothing to set (usage: vm set setting=value ...)\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (!eq) {
			fprintf(stderr, "vm set: '%s' is not setting=value\n", argv[i]);
			return 1;
		}
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		if (setting_index(key) < 0) {
			fprintf(stderr, "vm set: '%s' is not a setting you can change (console, compress, decompress)\n",
				key);
			return 1;
		}
		const char *why = check_setting(key, eq + 1);
		if (!why && strchr(eq + 1, '\n'))
			why = "the value has a newline";
		if (why) {
			fprintf(stderr, "vm set: %s=\"%s\": %s\n", key, eq + 1, why);
			return 1;
		}
	}
	char err[512];
	int lk;
	if (settings_lock_system(s, &lk, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm set: %s\n", err);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		const char *v = eq + 1;
		if (!strcmp(key, "console") && !strcmp(v, "nmdm"))
			v = "pty";
		if (vmconf_set(s->sys, key, v) < 0) {
			fprintf(stderr, "vm set: cannot set %s\n", key);
			settings_unlock_system(lk);
			return 1;
		}
	}
	int r = settings_save_system(s, err, sizeof(err));
	settings_unlock_system(lk);
	if (r < 0) {
		fprintf(stderr, "vm set: %s\n", err);
		return 1;
	}
	return 0;
}
