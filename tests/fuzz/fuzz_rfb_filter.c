/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the RFB client message filter that stands in front of the VNC library
 * (src/vnc/rfb_filter.c). The input is a viewer's byte stream, delivered in chunks whose sizes
 * come from the input too.
 *
 * Checked: ASan/UBSan; the filter never passes more bytes than it was given (plus one message
 * completed by the last chunk); and what it passes is itself a valid stream: filtering it again
 * passes it unchanged (so the library only ever sees whole, accepted messages, in step).
 *
 * Input: a byte of chunk-size seed, then the stream. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "vnc/rfb_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned seed = data[0];
	data++;
	size--;
	uint8_t *out = malloc(size + RFB_FILTER_SLACK + 1);
	struct rfb_out o = {out, 0, size + RFB_FILTER_SLACK};
	struct rfb_filter f = {0};
	const char *why;
	size_t i = 0;
	int rc = 0;
	while (i < size && rc == 0) {
		size_t k = 1 + (seed * 31 + i) % 97;
		if (k > size - i)
			k = size - i;
		size_t before = o.len;
		rc = rfb_filter_feed(&f, data + i, k, &o, &why);
		FUZZ_CHECK(o.len - before <= k + RFB_FILTER_SLACK, "passed %zu bytes for %zu",
			   o.len - before, k);
		i += k;
		FUZZ_CHECK(rc == 0 || rc == -EPROTO, "rc %d", rc);
		FUZZ_CHECK(rc == 0 || why, "a refusal without a reason");
	}
	FUZZ_CHECK(o.len <= size, "passed %zu of %zu bytes", o.len, size);
	/* the output filters to itself */
	uint8_t *again = malloc(o.len + RFB_FILTER_SLACK + 1);
	struct rfb_out o2 = {again, 0, o.len + RFB_FILTER_SLACK};
	struct rfb_filter f2 = {0};
	FUZZ_CHECK(rfb_filter_feed(&f2, out, o.len, &o2, &why) == 0, "its own output refused: %s",
		   why);
	FUZZ_CHECK(o2.len == o.len && memcmp(again, out, o.len) == 0,
		   "filtering the output changed it (%zu -> %zu bytes)", o.len, o2.len);
	free(again);
	free(out);
	return 0;
}
