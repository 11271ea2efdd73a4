/* SPDX-License-Identifier: BSD-2-Clause */
/* Host input: a -k configuration file and a bhyve command line built from the fuzzer's bytes.
 *
 * Input: a 16-bit little-endian length L, L bytes of configuration file, then the arguments,
 * separated by NUL bytes (argv[0] is "bhyve"). An argument "@" stands for the configuration
 * file's path, so "-k @" loads it a second time through the option parser.
 *
 * Checked: errors come with a message (in err, or logged by a device's option parser); a successful parse names the VM and leaves a topology
 * that topology_from_config() accepts; every value expands without crashing; and
 * config_dump()'s output, loaded with -k into an empty tree, dumps identically (config.h
 * promises that the dump is reusable with -k). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/options.h"
#include "core/log.h"
#include "core/vm.h"
#include "fixture.h"

#define MAX_ARGS 64

static struct fuzz_memfile cfgfile, dumpfile;
static FILE *devnull;

/* config_dump() into a malloc'd string. */
static char *dump(struct cfgnode *cfg, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	FUZZ_CHECK(f, "open_memstream: %s", strerror(errno));
	config_dump(cfg, f);
	fclose(f);
	return buf;
}

/* Expand every leaf (config_value), walking the tree without recursion. */
static void expand_all(struct cfgnode *root)
{
	size_t cap = 64, n = 0;
	struct cfgnode **stack = malloc(cap * sizeof(*stack));
	FUZZ_CHECK(stack, "out of memory");
	stack[n++] = root;
	while (n) {
		struct cfgnode *node = stack[--n];
		if (config_is_leaf(node)) {
			config_value(node);
			continue;
		}
		for (struct cfgnode *c = config_first_child(node); c; c = config_next_sibling(c)) {
			if (n == cap) {
				cap *= 2;
				stack = realloc(stack, cap * sizeof(*stack));
				FUZZ_CHECK(stack, "out of memory");
			}
			stack[n++] = c;
		}
	}
	free(stack);
}

/* The dump loads back into the same dump. */
static void check_round_trip(struct cfgnode *cfg)
{
	size_t len1 = 0, len2 = 0;
	char *d1 = dump(cfg, &len1);
	fuzz_memfile_set(&dumpfile, d1, len1);
	struct cfgnode *again = config_new();
	char err[512] = "";
	int r = config_load_file(again, dumpfile.path, err, sizeof(err));
	FUZZ_CHECK(r == 0, "the dump does not load: %s\n--- dump ---\n%s", err, d1);
	char *d2 = dump(again, &len2);
	FUZZ_CHECK(len1 == len2 && memcmp(d1, d2, len1) == 0,
		   "the dump changes when reloaded\n--- dump ---\n%s--- reloaded ---\n%s", d1, d2);
	free(d1);
	free(d2);
	config_free(again);
}

/* Arguments that would make -k read something other than a small regular file. */
static bool risky_path(const char *s)
{
	return strstr(s, "/dev") || strstr(s, "/proc") || strstr(s, "/sys");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		FUZZ_CHECK(devnull, "/dev/null: %s", strerror(errno));
		fuzz_memfile_open(&cfgfile, "kbfuzz-config");
		fuzz_memfile_open(&dumpfile, "kbfuzz-dump");
	}
	struct fuzz_input in = {data, size};
	size_t flen = in_u16(&in);
	if (flen > in.left)
		flen = in.left;
	fuzz_memfile_set(&cfgfile, in.p, flen);
	in.p += flen;
	in.left -= flen;

	/* the arguments: NUL-separated words, copied so that each ends in a NUL */
	char *words = malloc(in.left + 1);
	FUZZ_CHECK(words, "out of memory");
	memcpy(words, in.p, in.left);
	words[in.left] = '\0';
	char *argv[MAX_ARGS + 2] = {"bhyve"};
	int argc = 1;
	bool one_line_values = true;
	for (char *w = words; w < words + in.left + 1 && argc <= MAX_ARGS; w += strlen(w) + 1) {
		if (risky_path(w))
			goto out;
		if (strchr(w, '\n') || strchr(w, '\r'))
			one_line_values =
			    false; /* a -o value with a line break cannot round-trip */
		argv[argc++] = strcmp(w, "@") == 0 ? cfgfile.path : w;
	}
	if (in.left == 0)
		argc = 1; /* no arguments at all */
	argv[argc] = NULL;

	struct cfgnode *cfg = config_new();
	FUZZ_CHECK(cfg, "out of memory");
	char err[512] = "";
	int r = config_load_file(cfg, cfgfile.path, err, sizeof(err));
	FUZZ_CHECK(r <= 0 && (r == 0 || err[0]), "config_load_file: %d without a message", r);
	if (r == 0) {
		int status = -1;
		err[0] = '\0';
		unsigned long logged = kb_log_lines();
		r = bhyve_options_parse(argc, argv, cfg, devnull, &status, err, sizeof(err));
		FUZZ_CHECK(r >= -4095 && r <= 1, "bhyve_options_parse returned %d", r);
		/* the message is in err, or a device's option parser logged it */
		if (r < 0)
			FUZZ_CHECK((err[0] || kb_log_lines() > logged) && status == 4,
				   "error %d with status %d, message '%s', %lu lines logged", r,
				   status, err, kb_log_lines() - logged);
		else
			FUZZ_CHECK(status == 0, "success (%d) with exit status %d", r, status);
		if (r == 0) {
			const char *name = config_get(cfg, "name");
			FUZZ_CHECK(name && *name, "parsed without a VM name");
			struct cpu_topology t;
			char terr[256] = "";
			FUZZ_CHECK(topology_from_config(cfg, &t, terr, sizeof(terr)) == 0,
				   "parsed, but the topology is rejected: %s", terr);
			FUZZ_CHECK(t.cpus >= 1 && t.cpus <= VM_MAX_VCPUS &&
				       t.cpus == t.sockets * t.cores * t.threads,
				   "topology %d = %d x %d x %d", t.cpus, t.sockets, t.cores,
				   t.threads);
		}
	}
	expand_all(cfg);
	config_dump(cfg, devnull);
	if (one_line_values)
		check_round_trip(cfg);
	config_free(cfg);
out:
	free(words);
	return 0;
}
