# SPDX-License-Identifier: BSD-2-Clause
# /bin/kb-acpid in the L2 initrds (busybox sh): busybox acpid in the background, powering off on the
# ACPI power button (what SIGTERM to bhyve and `vm stop` press), after printing $1 if given.
# Needs the button and evdev modules.
mkdir -p /etc/acpi/PWRF
{
	echo '#!/bin/sh'
	[ -n "${1:-}" ] && echo "echo \"$1\""
	echo 'poweroff -f'
} >/etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
# event key -> action script under the -c directory
echo "PWRF PWRF/00000080" >/etc/acpid.conf
# -d: log to stderr (the default log file's folder does not exist in the initrd)
acpid -d -c /etc/acpi -a /etc/acpid.conf >/dev/null 2>&1 &
