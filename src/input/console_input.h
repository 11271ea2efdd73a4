/* SPDX-License-Identifier: BSD-2-Clause */
/* The console's input path: a viewer (the VNC server) reports keys and the pointer here, and the
 * guest's input devices (PS/2 keyboard and mouse, the USB tablet) register to receive them.
 * Where several devices register for the same kind of event, the highest priority wins: the USB
 * tablet (absolute) takes the pointer from the PS/2 mouse (relative), as in bhyve.
 *
 * Events may come from any thread; sinks are called on the reporting thread, one at a time (the
 * service serialises them), and must do their own locking against the vCPU threads. */
#ifndef KB_CONSOLE_INPUT_H
#define KB_CONSOLE_INPUT_H

#include <stdbool.h>
#include <stdint.h>

/* Pointer buttons, the RFB button-mask bits */
#define CONSOLE_BTN_LEFT 0x01
#define CONSOLE_BTN_MIDDLE 0x02
#define CONSOLE_BTN_RIGHT 0x04
#define CONSOLE_BTN_WHEEL_UP 0x08
#define CONSOLE_BTN_WHEEL_DOWN 0x10

/* A key went down or up. `keysym` is the X11 keysym the viewer sent (0 if none); `code` is the
 * Linux evdev key code (KEY_*, linux/input-event-codes.h) when the viewer told the physical key
 * (QEMU extended key event), else 0. A keyboard prefers `code` and falls back on `keysym`. */
typedef void (*console_key_fn)(void *opaque, bool down, uint32_t keysym, uint32_t code);
/* The pointer is at (x, y) in a screen of width x height pixels, `buttons` held down
 * (CONSOLE_BTN_*). Absolute devices scale x/y; relative ones send the difference. */
typedef void (*console_ptr_fn)(void *opaque, uint8_t buttons, unsigned x, unsigned y,
			       unsigned width, unsigned height);

/* Register a sink; one key and one pointer sink are active at a time, the highest priority
 * (ties: the first registered). 0 or -errno (-ENOSPC: too many sinks). */
int console_kbd_register(console_key_fn fn, void *opaque, int priority);
int console_ptr_register(console_ptr_fn fn, void *opaque, int priority);
/* Remove every sink registered with `opaque` (device teardown). */
void console_input_unregister(void *opaque);

/* Report input (the viewer side). Without a sink the event is dropped. */
void console_key_event(bool down, uint32_t keysym, uint32_t code);
void console_ptr_event(uint8_t buttons, unsigned x, unsigned y);
/* The screen size the pointer coordinates refer to (the display's current mode). */
void console_set_screen_size(unsigned width, unsigned height);

/* Priorities used by kbhyve's devices */
#define CONSOLE_PRIO_PS2 1
#define CONSOLE_PRIO_USB_TABLET 2

#endif
