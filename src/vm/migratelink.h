/* SPDX-License-Identifier: BSD-2-Clause */
/* vm migrate's line to the other host: `ssh HOST vm _migrate_in [-c] [-d DS] NAME`, its stdin and
 * stdout ours, its stderr (the other side's error lines) passed through. What travels on it:
 *   live: here -> there  "conf <bytes>\n" and the guest's configuration; "done\n" once this
 *                        host's bhyve has handed the guest over; end of input before "done":
 *                        given up (the other side drops what it started, unless the guest is
 *                        already arriving: then its bhyve decides).
 *         there -> here  "KBMIGRATE listen <port>" once its bhyve -R waits; "KBMIGRATE running"
 *                        once the guest runs there.
 *   cold: here -> there  the guest folder as a tar stream;
 *         there -> here  "KBMIGRATE copied" once it is in the datastore there.
 * Other lines from the other side's stdout are printed as they come. */
#ifndef VM_MIGRATELINK_H
#define VM_MIGRATELINK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MIGRATELINK_TAG "KBMIGRATE"
#define MIGRATELINK_CONF_MAX (1 << 20) /* a guest configuration larger than this is not one */

struct migratelink {
	pid_t ssh;
	int to;	       /* ssh's stdin */
	int from;      /* ssh's stdout */
	char in[1024]; /* read from `from`, not yet a whole line */
	size_t inlen;
	char why[512]; /* after a failure: what happened to the link */
};

/* Whether s may travel as one word of the remote command line (a guest, datastore or host
 * name): letters, digits and . _ - : @, not starting with '-'. */
bool migratelink_word_ok(const char *s);

/* Start ssh to host running the other half (cold: -c). 0, or -1 after one line. */
int migratelink_open(struct migratelink *l, const char *host, bool cold, const char *ds,
		     const char *name);
int migratelink_send_conf(struct migratelink *l, const char *conf, size_t len);
/* Send one line ("done"). */
int migratelink_say(struct migratelink *l, const char *word);
/* tar the folder parent/name (sparse files kept sparse; its run lock and console file left
 * out) into the link, then end the input. 0, or -1 with why. */
int migratelink_send_folder(struct migratelink *l, const char *parent, const char *name);
/* Wait (timeout_ms, -1: for ever) for the line "KBMIGRATE <word> [rest]": 0 with rest in out,
 * or -1 with why (the link closed, or the time ran out). */
int migratelink_expect(struct migratelink *l, const char *word, char *out, size_t outlen,
		       int timeout_ms);
/* End the input and wait for ssh. */
void migratelink_close(struct migratelink *l);

#endif
