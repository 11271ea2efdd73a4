/* SPDX-License-Identifier: BSD-2-Clause */
/* The configuration tree: nodes with ordered children, leaves with string values,
 * "%(var)" expansion, typed reads, dump and -k file loading (bhyve_config(5) semantics). */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

/* Expansion limits: nesting depth, number of substitutions and result length are all bounded
 * so that a self-referencing or exponentially fanning-out configuration is reported, never a
 * crash or an endless loop. */
#define EXPAND_MAX_DEPTH 16
#define EXPAND_MAX_SUBST 4096
#define EXPAND_MAX_LEN (64 * 1024)

struct cfgnode {
	char *name; /* "" for the root */
	bool leaf;
	char *value;		 /* raw value of a leaf; NULL for a node */
	char *expanded;		 /* cached expansion, owned; NULL when not cached */
	bool expand_failed;	 /* cached failure (already reported) */
	unsigned long cache_gen; /* tree generation the cache belongs to */
	unsigned long gen;	 /* on the absolute root only: bumped by every modification */
	struct cfgnode *parent, *first, *last, *next;
};

/* ---- helpers ---- */

static struct cfgnode *tree_root(const struct cfgnode *n)
{
	while (n->parent)
		n = n->parent;
	return (struct cfgnode *)n;
}

static void tree_modified(struct cfgnode *n)
{
	tree_root(n)->gen++;
}

static struct cfgnode *node_alloc(const char *name, size_t len, bool leaf)
{
	struct cfgnode *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->name = strndup(name, len);
	if (!n->name) {
		free(n);
		return NULL;
	}
	n->leaf = leaf;
	return n;
}

static void node_append(struct cfgnode *parent, struct cfgnode *child)
{
	child->parent = parent;
	if (parent->last)
		parent->last->next = child;
	else
		parent->first = child;
	parent->last = child;
}

static void node_unlink(struct cfgnode *n)
{
	struct cfgnode *p = n->parent;
	if (!p)
		return;
	struct cfgnode *prev = NULL;
	for (struct cfgnode *c = p->first; c; prev = c, c = c->next) {
		if (c != n)
			continue;
		if (prev)
			prev->next = c->next;
		else
			p->first = c->next;
		if (p->last == c)
			p->last = prev;
		break;
	}
	n->parent = NULL;
	n->next = NULL;
}

static void node_free_one(struct cfgnode *n)
{
	free(n->name);
	free(n->value);
	free(n->expanded);
	free(n);
}

/* Free a detached subtree without recursion (paths can be arbitrarily deep). */
static void subtree_free(struct cfgnode *top)
{
	struct cfgnode *n = top;
	while (n) {
		if (n->first) {
			n = n->first;
			continue;
		}
		struct cfgnode *p = n == top ? NULL : n->parent;
		if (p) {
			p->first = n->next;
			if (!p->first)
				p->last = NULL;
		}
		node_free_one(n);
		n = p;
	}
}

static struct cfgnode *child_find(const struct cfgnode *n, const char *name, size_t len)
{
	for (struct cfgnode *c = n->first; c; c = c->next)
		if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
			return c;
	return NULL;
}

static bool key_char_ok(unsigned char c)
{
	return c != '.' && c != '=' && !isspace(c) && !iscntrl(c);
}

/* A path is one or more non-empty components of allowed characters joined by single dots.
 * It may not start with '#': config_dump's line would read back as a comment. */
static bool path_valid(const char *path)
{
	if (!path || !*path || *path == '#')
		return false;
	size_t comp = 0;
	for (const char *p = path;; p++) {
		if (*p == '.' || *p == '\0') {
			if (comp == 0)
				return false;
			if (*p == '\0')
				return true;
			comp = 0;
		} else if (!key_char_ok((unsigned char)*p)) {
			return false;
		} else {
			comp++;
		}
	}
}

/* Length of the component starting at p. */
static size_t comp_len(const char *p)
{
	const char *dot = strchr(p, '.');
	return dot ? (size_t)(dot - p) : strlen(p);
}

static struct cfgnode *lookup(struct cfgnode *root, const char *path)
{
	if (!root || !path_valid(path))
		return NULL;
	struct cfgnode *n = root;
	const char *p = path;
	for (;;) {
		size_t len = comp_len(p);
		n = child_find(n, p, len);
		if (!n)
			return NULL;
		if (p[len] == '\0')
			return n;
		if (n->leaf)
			return NULL;
		p += len + 1;
	}
}

/*
 * Walk `path` from `root`, creating missing intermediate nodes, and return the parent of the last
 * component in *parentp and the last component in *lastp. Checks the whole existing prefix
 * before creating anything so that an -EEXIST conflict leaves the tree untouched.
 */
static int walk_create_parents(struct cfgnode *root, const char *path, struct cfgnode **parentp,
			       const char **lastp)
{
	if (!root || !path_valid(path))
		return -EINVAL;
	if (root->leaf)
		return -EEXIST;

	struct cfgnode *n = root;
	const char *p = path;
	/* existing prefix */
	for (;;) {
		size_t len = comp_len(p);
		if (p[len] == '\0') {
			*parentp = n;
			*lastp = p;
			return 0;
		}
		struct cfgnode *c = child_find(n, p, len);
		if (!c)
			break;
		if (c->leaf)
			return -EEXIST;
		n = c;
		p += len + 1;
	}
	/* missing intermediate nodes */
	for (;;) {
		size_t len = comp_len(p);
		if (p[len] == '\0')
			break;
		struct cfgnode *c = node_alloc(p, len, false);
		if (!c)
			return -ENOMEM;
		node_append(n, c);
		n = c;
		p += len + 1;
	}
	tree_modified(root); /* once: it walks up to the root */
	*parentp = n;
	*lastp = p;
	return 0;
}

static int set_leaf(struct cfgnode *root, const char *path, const char *value, bool only_default)
{
	if (!value)
		return -EINVAL;
	if (!root || !path_valid(path))
		return -EINVAL;

	struct cfgnode *existing = lookup(root, path);
	if (existing) {
		if (!existing->leaf)
			return -EEXIST;
		if (only_default)
			return 0;
		char *v = strdup(value);
		if (!v)
			return -ENOMEM;
		free(existing->value);
		existing->value = v;
		tree_modified(existing);
		return 0;
	}

	struct cfgnode *parent;
	const char *last;
	int r = walk_create_parents(root, path, &parent, &last);
	if (r < 0)
		return r;
	/* the last component may still be in the way as a node: lookup() saw none, so it is new */
	struct cfgnode *leaf = node_alloc(last, strlen(last), true);
	if (!leaf)
		return -ENOMEM;
	leaf->value = strdup(value);
	if (!leaf->value) {
		node_free_one(leaf);
		return -ENOMEM;
	}
	node_append(parent, leaf);
	tree_modified(parent);
	return 0;
}

/* ---- expansion ---- */

struct strbuf {
	char *p;
	size_t len, cap;
};

static int sb_append_limit(struct strbuf *sb, const char *s, size_t n, size_t limit)
{
	if (n >= limit || sb->len >= limit - n)
		return -E2BIG;
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 64;
		while (cap < sb->len + n + 1)
			cap *= 2;
		char *p = realloc(sb->p, cap);
		if (!p)
			return -ENOMEM;
		sb->p = p;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
	return 0;
}

static int sb_append(struct strbuf *sb, const char *s, size_t n)
{
	return sb_append_limit(sb, s, n, EXPAND_MAX_LEN);
}

static int sb_append_unbounded(struct strbuf *sb, const char *s, size_t n)
{
	return sb_append_limit(sb, s, n, SIZE_MAX);
}

struct expand_ctx {
	struct cfgnode *root; /* absolute root: %(var) names are top-level paths */
	struct strbuf out;
	unsigned substitutions;
	char err[256];
};

static int expand_into(struct expand_ctx *cx, const char *s, int depth)
{
	if (depth > EXPAND_MAX_DEPTH) {
		snprintf(cx->err, sizeof(cx->err),
			 "%%(...) references nested deeper than %d levels (circular reference?)",
			 EXPAND_MAX_DEPTH);
		return -ELOOP;
	}
	const char *p = s;
	while (*p) {
		const char *pct = strchr(p, '%');
		if (!pct)
			return sb_append(&cx->out, p, strlen(p));
		int r = sb_append(&cx->out, p, (size_t)(pct - p));
		if (r < 0)
			return r;
		if (pct[1] == '%') {
			r = sb_append(&cx->out, "%", 1);
			p = pct + 2;
		} else if (pct[1] == '(') {
			const char *name = pct + 2;
			const char *close = strchr(name, ')');
			if (!close) {
				snprintf(cx->err, sizeof(cx->err), "unterminated '%%(' in '%s'", s);
				return -EINVAL;
			}
			char var[128];
			size_t vlen = (size_t)(close - name);
			if (vlen >= sizeof(var))
				vlen = sizeof(var) - 1;
			memcpy(var, name, vlen);
			var[vlen] = '\0';
			if (++cx->substitutions > EXPAND_MAX_SUBST) {
				snprintf(cx->err, sizeof(cx->err),
					 "more than %d %%(...) substitutions", EXPAND_MAX_SUBST);
				return -E2BIG;
			}
			struct cfgnode *ref =
			    (size_t)(close - name) == vlen ? lookup(cx->root, var) : NULL;
			if (!ref || !ref->leaf) {
				snprintf(cx->err, sizeof(cx->err), "undefined variable '%%(%s)'",
					 var);
				return -ENOENT;
			}
			r = expand_into(cx, ref->value, depth + 1);
			p = close + 1;
		} else {
			/* a lone '%' is literal, as in bhyve */
			r = sb_append(&cx->out, "%", 1);
			p = pct + 1;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Full dotted path of n (relative to the absolute root), for messages. */
static void node_path(const struct cfgnode *n, char *buf, size_t len)
{
	size_t need = 0;
	for (const struct cfgnode *c = n; c->parent; c = c->parent)
		need += strlen(c->name) + 1;
	if (len == 0)
		return;
	if (need > len) { /* too long for a message: show the leaf name only */
		snprintf(buf, len, "...%s", n->name);
		return;
	}
	size_t pos = need ? need - 1 : 0;
	buf[pos] = '\0';
	for (const struct cfgnode *c = n; c->parent; c = c->parent) {
		size_t l = strlen(c->name);
		pos -= l;
		memcpy(buf + pos, c->name, l);
		if (pos > 0)
			buf[--pos] = '.';
	}
}

/* Expansion results are cached per leaf. Lookups may come from several threads once the tree is
 * frozen (vCPU and device threads), so filling the cache is serialised. */
static pthread_mutex_t expand_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *leaf_expand_locked(struct cfgnode *n)
{
	struct cfgnode *root = tree_root(n);
	if (n->cache_gen == root->gen && (n->expanded || n->expand_failed))
		return n->expanded;

	free(n->expanded);
	n->expanded = NULL;
	n->expand_failed = false;
	n->cache_gen = root->gen;

	struct expand_ctx cx = {.root = root};
	int r = expand_into(&cx, n->value, 0);
	if (r == 0 && !cx.out.p)
		r = sb_append(&cx.out, "", 0);
	if (r < 0) {
		char path[256];
		node_path(n, path, sizeof(path));
		if (r == -E2BIG && !cx.err[0])
			snprintf(cx.err, sizeof(cx.err), "expansion longer than %d bytes",
				 EXPAND_MAX_LEN);
		else if (!cx.err[0])
			snprintf(cx.err, sizeof(cx.err), "%s", strerror(-r));
		kb_log("config: cannot expand %s: %s", path, cx.err);
		free(cx.out.p);
		n->expand_failed = true;
		return NULL;
	}
	n->expanded = cx.out.p;
	return n->expanded;
}

static const char *leaf_expanded(struct cfgnode *n)
{
	if (!n || !n->leaf)
		return NULL;
	if (!strchr(n->value, '%'))
		return n->value;
	pthread_mutex_lock(&expand_lock);
	const char *v = leaf_expand_locked(n);
	pthread_mutex_unlock(&expand_lock);
	return v;
}

/* ---- public API ---- */

struct cfgnode *config_new(void)
{
	return node_alloc("", 0, false);
}

void config_free(struct cfgnode *root)
{
	if (!root)
		return;
	if (root->parent) {
		tree_modified(root);
		node_unlink(root);
	}
	subtree_free(root);
}

int config_set(struct cfgnode *root, const char *path, const char *value)
{
	return set_leaf(root, path, value, false);
}

int config_set_default(struct cfgnode *root, const char *path, const char *value)
{
	return set_leaf(root, path, value, true);
}

int config_set_assignment(struct cfgnode *root, const char *assignment)
{
	if (!assignment)
		return -EINVAL;
	const char *eq = strchr(assignment, '=');
	if (!eq)
		return -EINVAL;
	size_t klen = (size_t)(eq - assignment);
	char *key = strndup(assignment, klen);
	if (!key)
		return -ENOMEM;
	int r = config_set(root, key, eq + 1);
	free(key);
	return r;
}

int config_unset(struct cfgnode *root, const char *path)
{
	if (!root || !path_valid(path))
		return -EINVAL;
	struct cfgnode *n = lookup(root, path);
	if (!n)
		return -ENOENT;
	tree_modified(n);
	node_unlink(n);
	subtree_free(n);
	return 0;
}

const char *config_get(struct cfgnode *root, const char *path)
{
	return leaf_expanded(lookup(root, path));
}

const char *config_get_raw(struct cfgnode *root, const char *path)
{
	struct cfgnode *n = lookup(root, path);
	return n && n->leaf ? n->value : NULL;
}

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "on", "yes", "1"};
	static const char *const no[] = {"false", "off", "no", "0"};
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

int config_get_bool(struct cfgnode *root, const char *path, bool def, bool *out)
{
	*out = def;
	struct cfgnode *n = lookup(root, path);
	if (!n)
		return 0;
	if (!n->leaf)
		return -EINVAL;
	const char *v = leaf_expanded(n);
	bool b;
	if (!v || config_parse_bool(v, &b) < 0)
		return -EINVAL;
	*out = b;
	return 0;
}

int config_get_int(struct cfgnode *root, const char *path, long long def, long long *out)
{
	*out = def;
	struct cfgnode *n = lookup(root, path);
	if (!n)
		return 0;
	if (!n->leaf)
		return -EINVAL;
	const char *v = leaf_expanded(n);
	/* strtoll base 0 as bhyve (decimal, 0x hex, 0 octal), but the whole string must be a number
	 */
	if (!v || !*v || isspace((unsigned char)*v))
		return -EINVAL;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 0);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*out = x;
	return 0;
}

struct cfgnode *config_node(struct cfgnode *root, const char *path)
{
	return lookup(root, path);
}

struct cfgnode *config_node_create(struct cfgnode *root, const char *path)
{
	struct cfgnode *n = lookup(root, path);
	if (n)
		return n->leaf ? NULL : n;
	struct cfgnode *parent;
	const char *last;
	if (walk_create_parents(root, path, &parent, &last) < 0)
		return NULL;
	n = node_alloc(last, strlen(last), false);
	if (!n)
		return NULL;
	node_append(parent, n);
	tree_modified(parent);
	return n;
}

bool config_is_leaf(const struct cfgnode *n)
{
	return n && n->leaf;
}

const char *config_name(const struct cfgnode *n)
{
	return n ? n->name : NULL;
}

const char *config_value(struct cfgnode *n)
{
	return leaf_expanded(n);
}

struct cfgnode *config_first_child(const struct cfgnode *n)
{
	return n ? n->first : NULL;
}

struct cfgnode *config_next_sibling(const struct cfgnode *n)
{
	return n ? n->next : NULL;
}

/* Raw values are printed so that the dump reloads with -k into the same tree, %(var) included.
 * The walk is iterative; `prefix` holds the dotted path of the current node's parent. */
void config_dump(struct cfgnode *root, FILE *out)
{
	if (!root || root->leaf)
		return;
	struct strbuf prefix = {0};
	struct cfgnode *n = root->first;
	while (n) {
		if (n->leaf) {
			fprintf(out, "%s%s%s=%s\n", prefix.p ? prefix.p : "", prefix.len ? "." : "",
				n->name, n->value);
		} else if (n->first) {
			if (prefix.len && sb_append_unbounded(&prefix, ".", 1) < 0)
				break;
			if (sb_append_unbounded(&prefix, n->name, strlen(n->name)) < 0)
				break;
			n = n->first;
			continue;
		}
		/* advance to the next sibling, climbing out of finished nodes */
		while (n != root && !n->next) {
			n = n->parent;
			if (n == root)
				break;
			size_t l = strlen(n->name);
			prefix.len -= l;
			if (prefix.len)
				prefix.len--; /* the dot before it */
			prefix.p[prefix.len] = '\0';
		}
		n = n == root ? NULL : n->next;
	}
	free(prefix.p);
}

/* ---- -k files ---- */

static void trim_eol(char *line, size_t *len)
{
	while (*len && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
		line[--*len] = '\0';
}

int config_load_file(struct cfgnode *root, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned lineno = 0;
	int r = 0;
	while ((got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		size_t len = (size_t)got;
		if (strlen(line) != len) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", path, lineno);
			r = -EINVAL;
			break;
		}
		trim_eol(line, &len);
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: missing '=' in '%s' (expected key=value)",
				 path, lineno, s);
			r = -EINVAL;
			break;
		}
		if (eq == s) {
			snprintf(err, errlen, "%s:%u: empty key before '='", path, lineno);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		r = config_set(root, s, eq + 1);
		if (r == -EINVAL) {
			snprintf(err, errlen,
				 "%s:%u: malformed key '%s' (empty component, stray dot, space or "
				 "control character)",
				 path, lineno, s);
			break;
		}
		if (r == -EEXIST) {
			snprintf(
			    err, errlen,
			    "%s:%u: key '%s' conflicts with an existing setting (a value where "
			    "a group is needed, or a group where a value is needed)",
			    path, lineno, s);
			break;
		}
		if (r < 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, strerror(-r));
			break;
		}
	}
	if (r == 0 && ferror(f)) {
		int e = errno ? errno : EIO;
		snprintf(err, errlen, "%s: read error: %s", path, strerror(e));
		r = -e;
	}
	free(line);
	fclose(f);
	return r;
}
