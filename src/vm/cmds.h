/* SPDX-License-Identifier: BSD-2-Clause */
/* The `vm` subcommands: each takes the arguments after its name (argv[0] is the subcommand) and
 * returns the process exit status (0 ok, 1 failure; usage errors print usage and return 1). */
#ifndef VM_CMDS_H
#define VM_CMDS_H

#include "vm/settings.h"

typedef int (*vm_cmd_fn)(struct vm_settings *s, int argc, char **argv);

/* cmd_misc.c */
int cmd_init(struct vm_settings *s, int argc, char **argv);
int cmd_get(struct vm_settings *s, int argc, char **argv);
int cmd_set(struct vm_settings *s, int argc, char **argv);

/* cmd_guest.c: guests on disk */
int cmd_create(struct vm_settings *s, int argc, char **argv);
int cmd_list(struct vm_settings *s, int argc, char **argv);
int cmd_info(struct vm_settings *s, int argc, char **argv);
int cmd_destroy(struct vm_settings *s, int argc, char **argv);
int cmd_rename(struct vm_settings *s, int argc, char **argv);
int cmd_configure(struct vm_settings *s, int argc, char **argv);
int cmd_add(struct vm_settings *s, int argc, char **argv);

/* cmd_guest.c's helpers for the other guest commands (each reports on stderr itself) */
struct guest;
/* Something named `name` in some datastore (or a guest of that name in another case): where. */
bool guest_exists_anywhere(const struct vm_settings *s, const char *name, char *where, size_t wlen);
/* A folder <ds>/<name> without <name>.conf (an interrupted create): its path. */
bool confless_folder(const struct vm_settings *s, const char *name, char *out, size_t outlen);
/* name's control socket path fits sun_path (else one line for vm `cmd`). */
bool socket_path_fits(const char *cmd, const char *name);
/* name can be a new guest's (vm clone, vm image provision): a valid name, its control socket
 * path fits, nothing of that name in any datastore; else false after one line for vm `cmd`. */
bool new_guest_name_ok(const struct vm_settings *s, const char *cmd, const char *name);
/* g stopped and kept so for vm command `cmd`: its run lock (*runfd), then its config lock
 * (*conffd) with the conf read again. 0, or -1 after one line on stderr. */
int lock_for(struct guest *g, const char *cmd, int *runfd, int *conffd);
/* cmd_run.c: start guest g's supervisor to receive it live (vm _migrate_in): its bhyve waits at
 * `listen` ("[addr:]port", bhyve -R) instead of booting. 0 once it runs, or -1 after one line. */
int start_migration_receiver(struct vm_settings *s, const struct guest *g, const char *listen);
/* cmd_migrate.c: vm migrate, and the receiving host's half, vm _migrate_in (over ssh) */
int cmd_migrate(struct vm_settings *s, int argc, char **argv);
int cmd_migrate_in(struct vm_settings *s, int argc, char **argv);
/* cmd_snapshot.c: snapshots and clones (destroy NAME@SNAP comes through cmd_destroy) */
int cmd_snapshot(struct vm_settings *s, int argc, char **argv);
int cmd_rollback(struct vm_settings *s, int argc, char **argv);
int cmd_clone(struct vm_settings *s, int argc, char **argv);
int snapshot_destroy(struct vm_settings *s, const char *arg);
/* The copy of guest oldname's folder at dir becomes guest newname (vm clone, vm image
 * provision): its conf renamed, a new uuid and new MACs, no log; the UEFI variables go unless
 * keep_vars. 0, or -1 after one line "vm CMD: ..." on stderr. */
int guest_generalise(const char *cmd, const char *oldname, const char *dir, const char *newname,
		     bool keep_vars);
/* cmd_image.c: vm image list|create|provision|destroy */
int cmd_image(struct vm_settings *s, int argc, char **argv);

/* cmd_fetch.c: vm iso, vm img */
int cmd_iso(struct vm_settings *s, int argc, char **argv);
int cmd_img(struct vm_settings *s, int argc, char **argv);
/* cmd_datastore.c */
int cmd_datastore(struct vm_settings *s, int argc, char **argv);

/* cmd_switch.c */
int cmd_switch(struct vm_settings *s, int argc, char **argv);

/* cmd_run.c: running guests */
int cmd_start(struct vm_settings *s, int argc, char **argv);
int cmd_install(struct vm_settings *s, int argc, char **argv);
int cmd_stop(struct vm_settings *s, int argc, char **argv);
int cmd_restart(struct vm_settings *s, int argc, char **argv);
int cmd_poweroff(struct vm_settings *s, int argc, char **argv);
int cmd_reset(struct vm_settings *s, int argc, char **argv);
int cmd_suspend(struct vm_settings *s, int argc, char **argv);
int cmd_resume(struct vm_settings *s, int argc, char **argv);
int cmd_startall(struct vm_settings *s, int argc, char **argv);
int cmd_stopall(struct vm_settings *s, int argc, char **argv);
int cmd_run_supervisor(struct vm_settings *s, int argc, char **argv); /* `vm _run` */

/* cmd_console.c */
int cmd_console(struct vm_settings *s, int argc, char **argv);

/* cmd_console_web.c: vm console --web (name NULL for a HOST:PORT given by the user) */
int console_web(const struct vm_settings *s, const char *name, const char *vnc_entry,
		const char *listen, const char *port);
int console_web_parse_vnc(const char *entry, char *host, size_t hostlen, int *port);

#endif
