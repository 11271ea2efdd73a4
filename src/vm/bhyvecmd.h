/* SPDX-License-Identifier: BSD-2-Clause */
/* The bhyve command line for a guest, built from its config as vm-bhyve's vm-run does: slot 0
 * hostbridge, 31 lpc, the install ISO at install_slot, then from start_slot disks, NICs,
 * virtio-rnd, virtio-console, the framebuffer (graphics) and its xHCI tablet. Pure logic
 * (golden-tested): no files are touched. */
#ifndef VM_BHYVECMD_H
#define VM_BHYVECMD_H

#include <stdbool.h>
#include <stddef.h>

#include "vm/vmconf.h"

struct bhyvecmd_input {
	const char *name; /* guest name (also bhyve's VM name) */
	const char *dir;  /* guest folder: relative disk/kernel paths resolve here */
	const struct vmconf *conf;
	const char *bhyve; /* path to bhyve, argv[0] */
	const char *iso;   /* `vm install`: image attached read-only at install_slot, or NULL */
	bool com_stdio;	   /* `start -f` / tmux: com1 on stdio instead of a pty */
	const char *restore; /* the suspend state to resume (bhyve -r), or NULL to boot */
	const char *migrate_listen; /* receive the guest live (bhyve -R "[addr:]port"), or NULL */
	/* where bhyve makes the pty links and virtio-console sockets: NULL for the guest folder
	 * (run_as gives bhyve a run folder of the user's, runas.h) */
	const char *console_dir;
	/* loader="uefi": the firmware's code image (system.conf uefi_code; Debian's OVMF by
	 * default). The supervisor makes the variable store from system.conf's uefi_vars_template.
	 */
	const char *uefi_code;
	/* loader="uefi-csm": the BIOS image (system.conf bios_code; Debian's SeaBIOS by default),
	 * which boots legacy BIOS guests where bhyve's CSM firmware would */
	const char *bios_code;
	/* loader="uefi-custom": vm-bhyve's $vm_dir/.config/BHYVE_UEFI.fd, a whole firmware image
	 * (code and its own variables) */
	const char *uefi_custom;
	/* loader="grub": kbhyve's EFI shim (settings' grubshim), the firmware's kernel, which
	 * connects the disks and starts GRUB, handed over as the initrd */
	const char *grub_shim;
	/* graphics="yes" without graphics_port: the port the caller found free (vm-bhyve takes the
	 * first free one from 5900); 0 means 5900 */
	unsigned vnc_port;
};

/* One guest NIC: the supervisor creates the tap (or, for networkN_device, uses the existing
 * interface), attaches it to the switch (when set and it exists) and undoes that when bhyve
 * exits. */
struct bhyvecmd_nic {
	int index;     /* N of networkN_* */
	char tap[16];  /* interface bhyve attaches to */
	char sw[64];   /* networkN_switch, or "" */
	char mac[18];  /* networkN_mac, or "" (then bhyve derives one) */
	bool existing; /* networkN_device: an existing interface, never created or destroyed */
	bool attached; /* set by the supervisor: it added the existing interface to `sw`
			* for this run (it takes it out again at exit) */
};

struct bhyvecmd {
	char **argv; /* NULL-terminated */
	int argc;
	struct bhyvecmd_nic *nics;
	int nnics;
	/* One line per key kbhyve ignores or maps differently, e.g.
	 * "graphics=\"yes\": no framebuffer in kbhyve, ignored" (NULL-terminated). */
	char **warnings;
	int nwarnings;
	/* Console devices the supervisor records in <guest>/console: "com1=<dir>/com1" (the pty
	 * link bhyve makes), "com2=<dir>/com2", or "com1=stdio" with com_stdio; "vnc=ADDR:PORT"
	 * for graphics. */
	char **consoles;
	int nconsoles;
	/* the disk images and devices bhyve opens read-write (not ahci-cd, not opts "ro"), for
	 * run_as (NULL-terminated) */
	char **disks_rw;
	int ndisks_rw;
	/* every disk image and device bhyve opens, the install image included, for the cgroup's
	 * io.max (NULL-terminated) */
	char **disks;
	int ndisks;
	/* loader="uefi": the guest's variable store (<dir>/uefi-vars.fd) that bhyve's -l bootrom
	 * gets, made by the supervisor from uefi_vars_template before bhyve starts: once and then
	 * kept when uefi_vars="yes" (variables persist), afresh at every start otherwise. */
	char *uefi_vars;
	bool uefi_vars_keep;
	/* loader="grub": the grub.cfg (grubcfg.h) the supervisor builds into <dir>/grub.efi, the
	 * EFI image bhyve hands to the firmware as the initrd of the shim (-o boot.initrd); NULL for
	 * other loaders. */
	char *grub_cfg;
};

#define BHYVECMD_UEFI_VARS_FILE "uefi-vars.fd"
#define BHYVECMD_GRUB_IMAGE "grub.efi"
#define BHYVECMD_GRUB_CFG "grub.cfg"
#define BHYVECMD_UEFI_CODE_DEFAULT "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define BHYVECMD_UEFI_VARS_DEFAULT "/usr/share/OVMF/OVMF_VARS_4M.fd"
#define BHYVECMD_BIOS_CODE_DEFAULT "/usr/share/seabios/bios-256k.bin"

/* 0, or -EINVAL with a one-line message naming the key (missing cpu/memory/loader, a loader kbhyve
 * cannot run, a bad value), or -ENOMEM. NIC taps: networkN_device (existing), else networkN_name,
 * else tap_name(). warnings and consoles are NULL-terminated even when empty. On error *out is
 * zeroed and needs no bhyvecmd_free. */
int bhyvecmd_build(const struct bhyvecmd_input *in, struct bhyvecmd *out, char *err, size_t errlen);
void bhyvecmd_free(struct bhyvecmd *c);

#endif
