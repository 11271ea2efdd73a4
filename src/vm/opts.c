/* SPDX-License-Identifier: BSD-2-Clause */
#include "vm/opts.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int vm_opts_parse(const char *cmd, int argc, char **argv, const char *spec, const char *usage,
		  const char *vals[128])
{
	char optstring[64];
	/* '+': stop at the first operand; ':': report a missing value apart from an unknown option */
	if (snprintf(optstring, sizeof(optstring), "+:%s", spec) >= (int)sizeof(optstring))
		return -1;
	memset(vals, 0, 128 * sizeof(vals[0]));
	optind = 0; /* GNU getopt: start afresh, whatever an earlier parse left */
	opterr = 0;
	int c;
	while ((c = getopt(argc, argv, optstring)) != -1) {
		if (c == '?' || c == ':' || c < 0 || c >= 128) {
			char what[64];
			snprintf(what, sizeof(what), c == ':' ? "option -%c needs a value" : "unknown option -%c",
				 optopt);
			if (usage)
				fprintf(stderr, "vm %s: %s (%s)\n", cmd, what, usage);
			else
				fprintf(stderr, "vm %s: %s\n", cmd, what);
			return -1;
		}
		vals[c] = optarg ? optarg : "";
	}
	return optind;
}
