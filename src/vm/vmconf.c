/* PLACEHOLDER: replaced by the real implementation (owner writes this file). */
#include <errno.h>
#include <stdio.h>
#include "vm/vmconf.h"
struct vmconf *vmconf_new(void) { return NULL; }
void vmconf_free(struct vmconf *c) {}
int vmconf_parse(struct vmconf **out, const char *text, const char *name, char *err, size_t errlen) { return -ENOSYS; }
int vmconf_load(struct vmconf **out, const char *path, char *err, size_t errlen) { return -ENOSYS; }
int vmconf_save(const struct vmconf *c, const char *path, char *err, size_t errlen) { return -ENOSYS; }
char *vmconf_format(const struct vmconf *c) { return NULL; }
const char *vmconf_get(const struct vmconf *c, const char *key) { return NULL; }
const char *vmconf_get_default(const struct vmconf *c, const char *key, const char *def) { return def; }
int vmconf_set(struct vmconf *c, const char *key, const char *value) { return -ENOSYS; }
int vmconf_unset(struct vmconf *c, const char *key) { return 0; }
size_t vmconf_count(const struct vmconf *c) { return 0; }
const char *vmconf_key_at(const struct vmconf *c, size_t i) { return NULL; }
const char *vmconf_value_at(const struct vmconf *c, size_t i) { return NULL; }
bool vmconf_truthy(const char *v) { return false; }
