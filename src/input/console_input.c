/* SPDX-License-Identifier: BSD-2-Clause */
/* The console's input sinks (see console_input.h): a small table under one lock. */
#include "input/console_input.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#define MAX_SINKS 8

struct sink {
	void *fn;
	void *opaque;
	int priority;
};

static struct {
	pthread_mutex_t lock;
	struct sink kbd[MAX_SINKS], ptr[MAX_SINKS];
	unsigned nkbd, nptr;
	unsigned width, height;
} in = {.lock = PTHREAD_MUTEX_INITIALIZER, .width = 1024, .height = 768};

static int add(struct sink *tab, unsigned *n, void *fn, void *opaque, int priority)
{
	if (!fn)
		return -EINVAL;
	pthread_mutex_lock(&in.lock);
	int rc = -ENOSPC;
	if (*n < MAX_SINKS) {
		tab[(*n)++] = (struct sink){fn, opaque, priority};
		rc = 0;
	}
	pthread_mutex_unlock(&in.lock);
	return rc;
}

int console_kbd_register(console_key_fn fn, void *opaque, int priority)
{
	return add(in.kbd, &in.nkbd, (void *)fn, opaque, priority);
}

int console_ptr_register(console_ptr_fn fn, void *opaque, int priority)
{
	return add(in.ptr, &in.nptr, (void *)fn, opaque, priority);
}

static void drop(struct sink *tab, unsigned *n, void *opaque)
{
	unsigned k = 0;
	for (unsigned i = 0; i < *n; i++)
		if (tab[i].opaque != opaque)
			tab[k++] = tab[i];
	*n = k;
}

void console_input_unregister(void *opaque)
{
	pthread_mutex_lock(&in.lock);
	drop(in.kbd, &in.nkbd, opaque);
	drop(in.ptr, &in.nptr, opaque);
	pthread_mutex_unlock(&in.lock);
}

/* The active sink: highest priority, the first registered among equals. */
static const struct sink *best(const struct sink *tab, unsigned n)
{
	const struct sink *b = NULL;
	for (unsigned i = 0; i < n; i++)
		if (!b || tab[i].priority > b->priority)
			b = &tab[i];
	return b;
}

void console_key_event(bool down, uint32_t keysym, uint32_t code)
{
	pthread_mutex_lock(&in.lock);
	const struct sink *s = best(in.kbd, in.nkbd);
	if (s)
		((console_key_fn)s->fn)(s->opaque, down, keysym, code);
	pthread_mutex_unlock(&in.lock);
}

void console_ptr_event(uint8_t buttons, unsigned x, unsigned y)
{
	pthread_mutex_lock(&in.lock);
	const struct sink *s = best(in.ptr, in.nptr);
	if (s)
		((console_ptr_fn)s->fn)(s->opaque, buttons, x, y, in.width, in.height);
	pthread_mutex_unlock(&in.lock);
}

void console_set_screen_size(unsigned width, unsigned height)
{
	pthread_mutex_lock(&in.lock);
	if (width && height) {
		in.width = width;
		in.height = height;
	}
	pthread_mutex_unlock(&in.lock);
}
