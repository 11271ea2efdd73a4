/* SPDX-License-Identifier: BSD-2-Clause */
/* vm-bhyve's configuration file format (guest .conf, templates, .config/system.conf, /etc/kbhyve.conf):
 * rc-style lines `key="value"` (or key=value, key='value'), `#` comments, blank lines. Keys are
 * [A-Za-z_][A-Za-z0-9_.-]*. As in vm-bhyve, `#` starts a comment anywhere (inside quotes too) and
 * the first assignment of a key wins. A line that does not parse is skipped and recorded as a
 * warning (vmconf_warning_*, vmconf_report). The parsed file keeps every line in order so that a
 * rewrite (vmconf_set + vmconf_save) changes only the lines it touches. Pure logic: no I/O except
 * vmconf_load/vmconf_save and vmconf_report. */
#ifndef VM_VMCONF_H
#define VM_VMCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmconf;

struct vmconf *vmconf_new(void);
void vmconf_free(struct vmconf *c);

/* Parse text; `name` (a file name) prefixes messages: "NAME line N: ...". Lines that do not parse
 * become warnings, not errors. 0, or -ENOMEM / -EINVAL (a NUL byte: not a text file). */
int vmconf_parse(struct vmconf **out, const char *text, const char *name, char *err, size_t errlen);
/* Read and parse a file: 0, -ENOENT (no such file, message in err), -EINVAL, other -errno. */
int vmconf_load(struct vmconf **out, const char *path, char *err, size_t errlen);
/* Write atomically (temporary file in the same folder, fsync, rename). 0 or -errno. */
int vmconf_save(const struct vmconf *c, const char *path, char *err, size_t errlen);
/* The file text as vmconf_save would write it (malloc'd). */
char *vmconf_format(const struct vmconf *c);

/* The value of the first assignment of key (vm-bhyve's config::get), or NULL. */
const char *vmconf_get(const struct vmconf *c, const char *key);
const char *vmconf_get_default(const struct vmconf *c, const char *key, const char *def);
/* vm-bhyve's numbered keys: vmconf_getn(c, "disk", 0, "_name") reads disk0_name. */
const char *vmconf_getn(const struct vmconf *c, const char *prefix, int n, const char *suffix);
/* Replace the value in place (first occurrence; later duplicates removed) or append. Written as
 * key="value" with " \ $ ` escaped. 0 or -EINVAL (bad key, or a value with a newline or a '#',
 * which vm-bhyve would read as a comment). */
int vmconf_set(struct vmconf *c, const char *key, const char *value);
/* Remove every assignment of key; returns how many were removed. */
int vmconf_unset(struct vmconf *c, const char *key);

/* Assignments in file order (comments and blank lines are skipped). */
size_t vmconf_count(const struct vmconf *c);
const char *vmconf_key_at(const struct vmconf *c, size_t i);
const char *vmconf_value_at(const struct vmconf *c, size_t i);

/* vm-bhyve's truth values (util::checkyesno): unset, empty, no, off, false (any case) and 0 are
 * false; anything else ("y", "yes", "enable"...) is true. vmconf_truthy is !vmconf_falsy. */
bool vmconf_falsy(const char *v);
bool vmconf_truthy(const char *v);

/* Lines vmconf_parse skipped: "NAME line N: <problem>; line skipped". */
size_t vmconf_warning_count(const struct vmconf *c);
const char *vmconf_warning_at(const struct vmconf *c, size_t i);
/* Print each as "PROG: warning: ..." on stderr. */
void vmconf_report(const struct vmconf *c, const char *prog);

/* A size as vm-bhyve takes them (disk sizes, memory): digits with an optional K/M/G/T suffix (any
 * case), which may be followed by B or iB ("512MB", "2GiB"), in bytes; no suffix (or "B") means
 * bytes. 0, -EINVAL (malformed or zero) or -ERANGE. */
int vmconf_parse_size(const char *s, uint64_t *bytes);

#endif
