/* SPDX-License-Identifier: BSD-2-Clause */
/* The event loop: one epoll thread for backends (tty input, sockets, timers, signals). */
#ifndef KB_EVLOOP_H
#define KB_EVLOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct evloop_handle;

/* Called on the event-loop thread with the epoll events that fired. */
typedef void (*evloop_fd_fn)(int fd, uint32_t events, void *opaque);
typedef void (*evloop_timer_fn)(void *opaque);

struct evloop *evloop_new(void);
void evloop_free(struct evloop *ev);

/* Watch `fd` for `events` (EPOLLIN/EPOLLOUT...). Safe from any thread. NULL on error. */
struct evloop_handle *evloop_add_fd(struct evloop *ev, int fd, uint32_t events, evloop_fd_fn fn,
				    void *opaque);
int evloop_modify(struct evloop *ev, struct evloop_handle *h, uint32_t events);
/* Stops watching; the callback is not called after this returns (on the loop thread). */
void evloop_del(struct evloop *ev, struct evloop_handle *h);
/* Periodic (period_ms > 0) or one-shot (period_ms == 0, first after delay_ms) timer. */
struct evloop_handle *evloop_add_timer(struct evloop *ev, unsigned delay_ms, unsigned period_ms,
				       evloop_timer_fn fn, void *opaque);

/* Re-arm a timer from evloop_add_timer with a new delay and period, reusing its descriptor (so a
 * guest that reprograms a timer often does not churn descriptors); both 0 disarms it until the
 * next call. Any thread. 0 or -errno. */
int evloop_timer_set(struct evloop_handle *h, unsigned delay_ms, unsigned period_ms);

/* Runs until evloop_stop(); returns the value given to evloop_stop(). */
int evloop_run(struct evloop *ev);
/* Thread-safe and async-signal-safe: makes evloop_run() return `code`. */
void evloop_stop(struct evloop *ev, int code);

#endif
