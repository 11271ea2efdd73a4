/* PLACEHOLDER: replaced by the real implementation (owner writes this file). */
#include <errno.h>
#include <stdio.h>
#include "vm/settings.h"
#include <string.h>
int settings_load(struct vm_settings *s, char *err, size_t errlen) { memset(s, 0, sizeof(*s)); return 0; }
int settings_require_init(const struct vm_settings *s, char *err, size_t errlen) { return 0; }
int settings_save_system(struct vm_settings *s, char *err, size_t errlen) { return -ENOSYS; }
void settings_free(struct vm_settings *s) {}
int datastore_path(const struct vm_settings *s, const char *ds, char *out, size_t outlen, char *err, size_t errlen) { return -ENOSYS; }
char **datastore_names(const struct vm_settings *s) { return NULL; }
void free_strv(char **v) {}
