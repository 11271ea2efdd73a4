/* SPDX-License-Identifier: BSD-2-Clause */
/* Character backends for serial ports, chosen by the bhyve `-l comN,SPEC` string:
 *
 *   stdio            stdin/stdout; stdin goes raw when it is a terminal (see tty_stdio_restore)
 *   /dev/...         an existing terminal device (a path containing '/'), made raw
 *   pty              a new pseudo-terminal; logs "NAME: /dev/pts/N" (attach there, like nmdm's
 *                    B side)
 *   pty:/some/link   the same plus a symlink to the slave, removed on close
 *   unix=/path/sock  a listening unix stream socket, one client at a time
 *   tcp=IP:PORT      a listening TCP socket ([v6addr]:port for IPv6), one client at a time
 *
 * Output (tty_write) never blocks: bytes the peer cannot take now wait in a 64 KiB buffer that
 * the event loop flushes; beyond that the oldest bytes are dropped and counted. Socket backends
 * drop output while no client is connected and refuse (close) a second client.
 *
 * Input is read on the event-loop thread and handed to the consumer's rx callback, which
 * returns how many bytes it took. A consumer that takes fewer than offered must first call
 * tty_pause_input() (from inside the callback, under its own lock); the backend keeps the rest
 * and reads nothing more until tty_resume_input().
 *
 * Threads: tty_write, tty_pause_input and tty_resume_input may be called from any thread, also
 * while holding the consumer's lock (the backend never calls rx with its own lock held).
 * tty_close must run when the event loop is stopped or on its thread.
 */
#ifndef KB_TTY_H
#define KB_TTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/evloop.h"

#define TTY_OUTBUF_SIZE (64 * 1024)

struct tty_backend;

/* Input bytes for the consumer; returns how many it took (see above). */
typedef size_t (*tty_rx_fn)(void *opaque, const uint8_t *buf, size_t len);

/* Open the backend named by `spec` for the port `name` ("com1", used in log lines) and start
 * watching it on `ev`. 0 and *out, or -errno with "SPEC: reason" in err. */
int tty_open(struct tty_backend **out, const char *spec, const char *name, struct evloop *ev,
	     tty_rx_fn rx, void *opaque, char *err, size_t errlen);
/* Stop watching, close descriptors, remove the socket file or pty symlink, restore termios. */
void tty_close(struct tty_backend *b);

void tty_write(struct tty_backend *b, const void *buf, size_t len);
void tty_pause_input(struct tty_backend *b);
void tty_resume_input(struct tty_backend *b);

/* Output bytes dropped because the buffer was full. */
uint64_t tty_dropped(struct tty_backend *b);
/* What the backend is attached to: "stdio", "/dev/ttyS1", "pty /dev/pts/4",
 * "unix /run/vm.sock", "tcp 127.0.0.1:4321" (the bound port). */
const char *tty_describe(const struct tty_backend *b);

/* Put the terminal on stdin back as it was before a stdio backend made it raw and clear
 * O_NONBLOCK where it had to be set on a shared descriptor. Idempotent and async-signal-safe:
 * main calls it at exit and from its handlers for signals that end the process (the stdio
 * backend also registers it with atexit() and, where the disposition is still the default,
 * for SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGABRT). */
void tty_stdio_restore(void);
/* True while stdin is in raw mode: log lines need "\r\n" then. */
bool tty_stdio_raw(void);

#endif
