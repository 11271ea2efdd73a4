/* <guest>/run.lock: held with flock(LOCK_EX) by the guest's supervisor for as long as it runs.
 * The file says "<hostname> <supervisor pid>". A lock file nobody holds is stale (its supervisor
 * died) and is cleared; one written by another host (shared storage) is left alone. */
#ifndef VM_RUNLOCK_H
#define VM_RUNLOCK_H

#include <stddef.h>
#include <sys/types.h>

enum run_state {
	RUN_STOPPED,	  /* no lock, or a stale one (now removed) */
	RUN_RUNNING,	  /* held by a live supervisor on this host: *pid */
	RUN_OTHER_HOST,	  /* written by another host: *host */
};

/* Take the lock for the calling process: 0 with *fd held open, -EBUSY (running or locked by another
 * host, message in err) or another -errno. Safe against a concurrent acquire or stale-clear. */
int runlock_acquire(const char *guest_dir, int *fd, char *err, size_t errlen);
/* Remove the lock file and close fd. */
void runlock_release(const char *guest_dir, int fd);
/* What the lock says now; clears a stale lock. pid and host may be NULL. */
enum run_state runlock_probe(const char *guest_dir, pid_t *pid, char *host, size_t hostlen);

#endif
