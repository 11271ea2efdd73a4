/* SPDX-License-Identifier: BSD-2-Clause */
/* The configuration tree, bhyve_config(5) style: dotted paths, string leaves.
 * The command line, -k files and -o assignments all build one tree; devices only read it. */
#ifndef KB_CONFIG_H
#define KB_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct cfgnode;

struct cfgnode *config_new(void);
void config_free(struct cfgnode *root);

/* Set a leaf, creating intermediate nodes; last assignment wins.
 * -EINVAL for a malformed path (empty component, leading/trailing dot),
 * -EEXIST when a component is a leaf where a node is needed or vice versa. */
int config_set(struct cfgnode *root, const char *path, const char *value);
/* Set only if not already present (defaults). Same errors as config_set. */
int config_set_default(struct cfgnode *root, const char *path, const char *value);
/* Parse "path=value" (as -o does). -EINVAL without '='. */
int config_set_assignment(struct cfgnode *root, const char *assignment);
int config_unset(struct cfgnode *root, const char *path);

/* The expanded value of a leaf ("%(var)" replaced by the value of the top-level path var,
 * "%%" by "%"), or NULL if absent or a node. Valid until the tree is modified or freed. */
const char *config_get(struct cfgnode *root, const char *path);
/* Raw (unexpanded) value. */
const char *config_get_raw(struct cfgnode *root, const char *path);

/* Typed reads. Return 0 and store the value, or the default when absent;
 * -EINVAL (and leave *out at the default) when present but malformed. */
int config_get_bool(struct cfgnode *root, const char *path, bool def, bool *out);
int config_get_int(struct cfgnode *root, const char *path, long long def, long long *out);

/* Boolean words as bhyve_config(5): true/on/yes/1, false/off/no/0. */
int config_parse_bool(const char *s, bool *out);

/* Node access and iteration (children in insertion order). */
struct cfgnode *config_node(struct cfgnode *root, const char *path); /* NULL if absent */
struct cfgnode *config_node_create(struct cfgnode *root, const char *path);
bool config_is_leaf(const struct cfgnode *n);
const char *config_name(const struct cfgnode *n);
const char *config_value(struct cfgnode *n); /* expanded; NULL for nodes */
struct cfgnode *config_first_child(const struct cfgnode *n);
struct cfgnode *config_next_sibling(const struct cfgnode *n);

/* Print every leaf as "full.path=value", one per line (reusable with -k). */
void config_dump(struct cfgnode *root, FILE *out);

/* Load a -k file: "key=value" lines, '#' comments, blank lines.
 * On error returns -errno/-EINVAL and writes "file:line: problem" into err. */
int config_load_file(struct cfgnode *root, const char *path, char *err, size_t errlen);

#endif
