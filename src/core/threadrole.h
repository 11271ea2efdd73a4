/* SPDX-License-Identifier: BSD-2-Clause */
/* What a thread of the VMM does, said by the thread itself when it starts, so that the sandbox
 * can narrow what it may do (one system-call allow-list per role). Without a hook (the sandbox
 * is off, or a unit test) thread_role_enter does nothing. */
#ifndef KB_THREADROLE_H
#define KB_THREADROLE_H

enum thread_role {
	THREAD_ROLE_MAIN,     /* the event loop: devices' host side, control socket, VNC */
	THREAD_ROLE_VCPU,     /* KVM_RUN and the exits it hands to device models */
	THREAD_ROLE_BLOCK_IO, /* a block backend's worker: reads, writes, flushes, discards */
};

/* The hook does not return on failure: a thread that cannot be confined stops the process. */
typedef void (*thread_role_hook)(enum thread_role role);
void thread_role_set_hook(thread_role_hook hook);
/* Called first thing by each new thread (after naming itself). */
void thread_role_enter(enum thread_role role);
const char *thread_role_name(enum thread_role role);

#endif
