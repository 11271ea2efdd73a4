/* SPDX-License-Identifier: BSD-2-Clause */
/* VNC authentication with nettle's DES (see vnc_auth.h). */
#include "vnc/vnc_auth.h"

#include <nettle/des.h>
#include <string.h>

static uint8_t mirror(uint8_t b)
{
	uint8_t r = 0;
	for (int i = 0; i < 8; i++)
		if (b & (1u << i))
			r |= (uint8_t)(0x80u >> i);
	return r;
}

void vnc_auth_response(const char *password, const uint8_t challenge[VNC_AUTH_CHALLENGE],
		       uint8_t response[VNC_AUTH_CHALLENGE])
{
	uint8_t key[DES_KEY_SIZE] = {0};
	size_t n = strlen(password);
	for (size_t i = 0; i < DES_KEY_SIZE && i < n; i++)
		key[i] = mirror((uint8_t)password[i]);
	struct des_ctx ctx;
	des_set_key(&ctx, key); /* weak keys (an empty password) are still usable keys */
	des_encrypt(&ctx, VNC_AUTH_CHALLENGE, response, challenge);
	memset(&ctx, 0, sizeof(ctx));
	memset(key, 0, sizeof(key));
}

bool vnc_auth_check(const char *password, const uint8_t challenge[VNC_AUTH_CHALLENGE],
		    const uint8_t response[VNC_AUTH_CHALLENGE])
{
	uint8_t want[VNC_AUTH_CHALLENGE];
	vnc_auth_response(password, challenge, want);
	uint8_t diff = 0;
	for (int i = 0; i < VNC_AUTH_CHALLENGE; i++)
		diff |= want[i] ^ response[i];
	return diff == 0;
}
