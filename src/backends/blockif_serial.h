/* SPDX-License-Identifier: BSD-2-Clause */
/* The default drive serial number shared by the disk models (virtio-blk, AHCI):
 * "BHYVE-XXXX-XXXX-XXXX" from a hash of the backing path, so a guest sees the same serial for the
 * same image on every boot. bhyve uses MD5; this is FNV-1a, so the digits differ from bhyve's. */
#ifndef KB_BLOCKIF_SERIAL_H
#define KB_BLOCKIF_SERIAL_H

/* Characters of the serial (ATA's and virtio-blk's 20-byte identifier). */
#define BLOCKIF_SERIAL_LEN 20

/* Write the serial for `path` and a NUL into out[BLOCKIF_SERIAL_LEN + 1]. */
void blockif_default_serial(const char *path, char *out);

#endif
