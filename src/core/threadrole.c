/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/threadrole.h"

#include <stdatomic.h>

static _Atomic(thread_role_hook) role_hook;

void thread_role_set_hook(thread_role_hook hook)
{
	atomic_store(&role_hook, hook);
}

void thread_role_enter(enum thread_role role)
{
	thread_role_hook hook = atomic_load(&role_hook);
	if (hook)
		hook(role);
}

const char *thread_role_name(enum thread_role role)
{
	switch (role) {
	case THREAD_ROLE_MAIN:
		return "main";
	case THREAD_ROLE_VCPU:
		return "vCPU";
	case THREAD_ROLE_BLOCK_IO:
		return "block I/O";
	}
	return "unknown";
}
