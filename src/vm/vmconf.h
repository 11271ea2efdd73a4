/* vm-bhyve's configuration file format (guest .conf, templates, .config/system.conf, /etc/kbhyve.conf):
 * rc-style lines `key="value"` (or key=value, key='value'), `#` comments, blank lines. Keys are
 * [A-Za-z_][A-Za-z0-9_]*. As in sh, `#` starts a comment only at the start of a word, never inside
 * quotes; spaces around `=` are an error. The parsed file keeps every line in order so that a rewrite (vmconf_set + vmconf_save)
 * changes only the lines it touches. Pure logic: no I/O except vmconf_load/vmconf_save. */
#ifndef VM_VMCONF_H
#define VM_VMCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmconf;

struct vmconf *vmconf_new(void);
void vmconf_free(struct vmconf *c);

/* Parse text; `name` (a file name) prefixes error messages: "NAME line N: ...". 0 or -EINVAL. */
int vmconf_parse(struct vmconf **out, const char *text, const char *name, char *err, size_t errlen);
/* Read and parse a file: 0, -ENOENT (no such file, message in err), -EINVAL, other -errno. */
int vmconf_load(struct vmconf **out, const char *path, char *err, size_t errlen);
/* Write atomically (temporary file in the same folder, fsync, rename). 0 or -errno. */
int vmconf_save(const struct vmconf *c, const char *path, char *err, size_t errlen);
/* The file text as vmconf_save would write it (malloc'd). */
char *vmconf_format(const struct vmconf *c);

/* The value of the last assignment of key, or NULL. */
const char *vmconf_get(const struct vmconf *c, const char *key);
const char *vmconf_get_default(const struct vmconf *c, const char *key, const char *def);
/* vm-bhyve's numbered keys: vmconf_getn(c, "disk", 0, "_name") reads disk0_name. */
const char *vmconf_getn(const struct vmconf *c, const char *prefix, int n, const char *suffix);
/* Replace the value in place (first occurrence; later duplicates removed) or append. Written as
 * key="value" with " \ $ ` escaped. 0 or -EINVAL (bad key, or a value with a newline). */
int vmconf_set(struct vmconf *c, const char *key, const char *value);
/* Remove every assignment of key; returns how many were removed. */
int vmconf_unset(struct vmconf *c, const char *key);

/* Assignments in file order (comments and blank lines are skipped). */
size_t vmconf_count(const struct vmconf *c);
const char *vmconf_key_at(const struct vmconf *c, size_t i);
const char *vmconf_value_at(const struct vmconf *c, size_t i);

/* vm-bhyve's truth values: yes/on/true/1 (any case). */
bool vmconf_truthy(const char *v);

/* A size as vm-bhyve takes them (disk sizes, memory): digits with an optional K/M/G/T suffix (any
 * case), in bytes; no suffix means bytes. 0, -EINVAL (malformed or zero) or
 * -ERANGE. */
int vmconf_parse_size(const char *s, uint64_t *bytes);

#endif
