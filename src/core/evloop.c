/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"

struct evloop_handle {
	int fd;
	bool is_timer; /* fd is a timerfd the loop owns */
	bool dead;
	evloop_fd_fn fd_fn;
	evloop_timer_fn timer_fn;
	void *opaque;
	struct evloop_handle *next_dead;
	struct evloop_handle *prev, *next; /* every live handle, freed by evloop_free */
};

struct evloop {
	int epfd;
	int stopfd; /* eventfd: written by evloop_stop() */
	volatile int stop_code;
	pthread_mutex_t lock; /* protects the handle lists */
	struct evloop_handle *dead;
	struct evloop_handle *live;
};

struct evloop *evloop_new(void)
{
	struct evloop *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ev->epfd < 0 || ev->stopfd < 0)
		goto fail;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, ev->stopfd, &e) < 0)
		goto fail;
	pthread_mutex_init(&ev->lock, NULL);
	return ev;
fail:
	if (ev->epfd >= 0)
		close(ev->epfd);
	if (ev->stopfd >= 0)
		close(ev->stopfd);
	free(ev);
	return NULL;
}

static void reap_dead(struct evloop *ev)
{
	pthread_mutex_lock(&ev->lock);
	struct evloop_handle *h = ev->dead;
	ev->dead = NULL;
	pthread_mutex_unlock(&ev->lock);
	while (h) {
		struct evloop_handle *next = h->next_dead;
		if (h->is_timer)
			close(h->fd);
		free(h);
		h = next;
	}
}

void evloop_free(struct evloop *ev)
{
	if (!ev)
		return;
	while (ev->live)
		evloop_del(ev, ev->live);
	reap_dead(ev);
	close(ev->epfd);
	close(ev->stopfd);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

static struct evloop_handle *add(struct evloop *ev, struct evloop_handle *h, uint32_t events)
{
	pthread_mutex_lock(&ev->lock);
	h->next = ev->live;
	if (ev->live)
		ev->live->prev = h;
	ev->live = h;
	pthread_mutex_unlock(&ev->lock);
	struct epoll_event e = {.events = events, .data.ptr = h};
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, h->fd, &e) < 0) {
		kb_log("event loop: cannot watch fd %d: %s", h->fd, strerror(errno));
		evloop_del(ev, h);
		return NULL;
	}
	return h;
}

struct evloop_handle *evloop_add_fd(struct evloop *ev, int fd, uint32_t events, evloop_fd_fn fn,
				    void *opaque)
{
	struct evloop_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->fd = fd;
	h->fd_fn = fn;
	h->opaque = opaque;
	return add(ev, h, events);
}

int evloop_modify(struct evloop *ev, struct evloop_handle *h, uint32_t events)
{
	struct epoll_event e = {.events = events, .data.ptr = h};
	return epoll_ctl(ev->epfd, EPOLL_CTL_MOD, h->fd, &e) < 0 ? -errno : 0;
}

void evloop_del(struct evloop *ev, struct evloop_handle *h)
{
	if (!h)
		return;
	epoll_ctl(ev->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	pthread_mutex_lock(&ev->lock);
	if (h->dead) {
		pthread_mutex_unlock(&ev->lock);
		return;
	}
	if (h->prev)
		h->prev->next = h->next;
	else
		ev->live = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->dead = true;
	h->next_dead = ev->dead;
	ev->dead = h;
	pthread_mutex_unlock(&ev->lock);
}

static int timer_arm(int tfd, unsigned delay_ms, unsigned period_ms)
{
	struct itimerspec its = {
		.it_value = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L},
		.it_interval = {period_ms / 1000, (long)(period_ms % 1000) * 1000000L},
	};
	return timerfd_settime(tfd, 0, &its, NULL) < 0 ? -errno : 0;
}

int evloop_timer_set(struct evloop_handle *h, unsigned delay_ms, unsigned period_ms)
{
	if (!h || !h->is_timer)
		return -EINVAL;
	if (delay_ms == 0 && period_ms)
		delay_ms = period_ms;
	return timer_arm(h->fd, delay_ms, period_ms);
}

struct evloop_handle *evloop_add_timer(struct evloop *ev, unsigned delay_ms, unsigned period_ms,
				       evloop_timer_fn fn, void *opaque)
{
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0)
		return NULL;
	if (delay_ms == 0)
		delay_ms = period_ms ? period_ms : 1; /* an all-zero it_value disarms the timer */
	if (timer_arm(tfd, delay_ms, period_ms) < 0) {
		close(tfd);
		return NULL;
	}
	struct evloop_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		close(tfd);
		return NULL;
	}
	h->fd = tfd;
	h->is_timer = true;
	h->timer_fn = fn;
	h->opaque = opaque;
	return add(ev, h, EPOLLIN);
}

int evloop_run(struct evloop *ev)
{
	struct epoll_event events[32];
	for (;;) {
		int n = epoll_wait(ev->epfd, events, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			kb_log("event loop: epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++) {
			struct evloop_handle *h = events[i].data.ptr;
			if (!h) {
				uint64_t v;
				if (read(ev->stopfd, &v, sizeof(v)) == sizeof(v))
					return ev->stop_code;
				continue;
			}
			if (h->dead)
				continue;
			if (h->is_timer) {
				uint64_t expirations;
				if (read(h->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
					continue;
				h->timer_fn(h->opaque);
			} else {
				h->fd_fn(h->fd, events[i].events, h->opaque);
			}
		}
		reap_dead(ev);
	}
}

void evloop_stop(struct evloop *ev, int code)
{
	uint64_t one = 1;
	ev->stop_code = code;
	/* write(2) is async-signal-safe; a full counter still leaves the fd readable */
	ssize_t r = write(ev->stopfd, &one, sizeof(one));
	(void)r;
}
