# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for the boot benchmark: /init has already written the port-0x80 marker; say so
# on the console (the harness checks this line) and power off at once.
echo "bench: init ran"
poweroff -f
