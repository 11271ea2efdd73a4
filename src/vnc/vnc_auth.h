/* SPDX-License-Identifier: BSD-2-Clause */
/* VNC authentication (RFB security type 2): DES-encrypt the server's 16-byte challenge with the
 * password (its first 8 characters, zero-padded, each byte's bits mirrored) as the key. */
#ifndef KB_VNC_AUTH_H
#define KB_VNC_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#define VNC_AUTH_CHALLENGE 16

/* The response a viewer that knows `password` sends. */
void vnc_auth_response(const char *password, const uint8_t challenge[VNC_AUTH_CHALLENGE],
		       uint8_t response[VNC_AUTH_CHALLENGE]);
/* Whether `response` is right; compares in constant time. */
bool vnc_auth_check(const char *password, const uint8_t challenge[VNC_AUTH_CHALLENGE],
		    const uint8_t response[VNC_AUTH_CHALLENGE]);

#endif
