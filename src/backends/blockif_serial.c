/* SPDX-License-Identifier: BSD-2-Clause */
/* Default drive serial numbers (see blockif_serial.h). */
#include "backends/blockif_serial.h"

#include <stdint.h>
#include <stdio.h>

void blockif_default_serial(const char *path, char *out)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	uint8_t d[6];
	for (int i = 0; i < 6; i++)
		d[i] = (uint8_t)(h >> (8 * i));
	snprintf(out, BLOCKIF_SERIAL_LEN + 1, "BHYVE-%02X%02X-%02X%02X-%02X%02X", d[0], d[1], d[2],
		 d[3], d[4], d[5]);
}
