/* PLACEHOLDER: replaced by the real implementation (owner writes this file). */
#include <errno.h>
#include <stdio.h>
#include "vm/runlock.h"
int runlock_acquire(const char *guest_dir, int *fd, char *err, size_t errlen) { return -ENOSYS; }
void runlock_release(const char *guest_dir, int fd) {}
enum run_state runlock_probe(const char *guest_dir, pid_t *pid, char *host, size_t hostlen) { return RUN_STOPPED; }
