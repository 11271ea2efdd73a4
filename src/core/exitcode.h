/* SPDX-License-Identifier: BSD-2-Clause */
/* bhyve(8) exit status, relied on by vm-bhyve and vmrun.sh loops. */
#ifndef KB_EXITCODE_H
#define KB_EXITCODE_H

enum bhyve_exit {
	BHYVE_EXIT_REBOOT = 0,
	BHYVE_EXIT_POWEROFF = 1,
	BHYVE_EXIT_HALT = 2,
	BHYVE_EXIT_TRIPLEFAULT = 3,
	BHYVE_EXIT_ERROR = 4,
	BHYVE_EXIT_SUSPEND = 5, /* bhyvectl --suspend: the guest is saved in a snapshot */
};

#endif
