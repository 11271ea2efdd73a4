/* PLACEHOLDER: replaced by the real implementation (owner writes this file). */
#include <errno.h>
#include <stdio.h>
#include "vm/bhyvecmd.h"
int bhyvecmd_build(const struct bhyvecmd_input *in, struct bhyvecmd *out, char *err, size_t errlen) { return -ENOSYS; }
void bhyvecmd_free(struct bhyvecmd *c) {}
