# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for the memory benchmarks: after the port-0x80 marker, keep the VM running for
# bench_hold seconds (kernel parameter; default 3) so that the VMM's memory can be sampled, then
# power off. The many-guests benchmark passes a long hold and kills the VMMs after sampling.
echo "bench: init ran"
sleep "${bench_hold:-3}"
poweroff -f
