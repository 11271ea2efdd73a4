/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target: fuzz_virtio_net over a real tap with a virtio-net header in a private
 * network namespace (see FUZZ_NET_TAP in fuzz_virtio_net.c, which this file builds again). */
#define FUZZ_NET_TAP 1
#include "fuzz_virtio_net.c"
