/* SPDX-License-Identifier: BSD-2-Clause */
/* fw_cfg items of a firmware boot (see fwcfg_items.h). */
#include "boot/fwcfg_items.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpi/acpi_loader.h"
#include "boot/bootorder.h"
#include "config/config.h"
#include "core/byteorder.h"
#include "core/vm.h"
#include "devices/fw_cfg.h"

/* QEMU reserves KVM's TSS and identity map (just below the flash window) in etc/e820 too. */
#define KVM_PRIVATE_BASE 0xFEFFC000ULL
#define KVM_PRIVATE_SIZE 0x4000ULL
#define E820_ENTRY 20 /* packed {u64 base, u64 length, u32 type} */

static void put_e820(uint8_t *p, uint64_t base, uint64_t len, uint32_t type)
{
	put_le64(p, base);
	put_le64(p + 8, len);
	put_le32(p + 16, type);
}

/* The largest files handed over: fw_cfg lengths are 32-bit, and the firmware reads each item
 * into its own memory. */
#define USER_FILE_MAX (64u << 20)
#define KERNEL_FILE_MAX (256u << 20)
#define INITRD_FILE_MAX (1u << 30)

/* Reads PATH whole into *buf (at most max bytes). 0, or -errno with *why set to the reason. */
static int slurp(const char *path, uint32_t max, uint8_t **buf, uint32_t *len, const char **why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		*why = strerror(e);
		return -e;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		*why = strerror(-rc);
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		*why = "not a regular file";
	} else if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		*why = "too large";
	}
	uint8_t *b = NULL;
	size_t got = 0;
	if (rc == 0) {
		b = malloc(st.st_size ? (size_t)st.st_size : 1);
		if (!b) {
			rc = -ENOMEM;
			*why = "out of memory";
		}
	}
	while (rc == 0 && got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			*why = r < 0 ? strerror(-rc) : "shorter than its size";
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	if (rc) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = (uint32_t)got;
	return 0;
}

static int read_user_file(const char *name, const char *path, uint8_t **buf, uint32_t *len,
			  char *err, size_t errlen)
{
	const char *why = "";
	int rc = slurp(path, USER_FILE_MAX, buf, len, &why);
	if (rc == -EFBIG)
		snprintf(err, errlen, "-f %s: file=%s: larger than %u MiB", name, path,
			 USER_FILE_MAX >> 20);
	else if (rc)
		snprintf(err, errlen, "-f %s: file=%s: %s", name, path, why);
	return rc;
}

static int add_sized(struct fw_cfg *fc, uint16_t size_key, uint16_t data_key, const void *data,
		     uint32_t len)
{
	uint8_t le[4];
	put_le32(le, len);
	int rc = fw_cfg_add_item(fc, size_key, le, sizeof(le));
	if (rc == 0 && len)
		rc = fw_cfg_add_item(fc, data_key, data, len);
	return rc;
}

/* A kernel, initrd and command line for the firmware (boot.kernel, boot.initrd, boot.cmdline with
 * a boot ROM), as QEMU's -kernel/-initrd/-append give them to OVMF: a bzImage split into its
 * real-mode setup and the rest, anything else (an EFI application such as GRUB) whole as the
 * kernel; the command line NUL-terminated. */
static int add_kernel_items(struct fw_cfg *fc, struct cfgnode *cfg, char *err, size_t errlen)
{
	const char *kernel = config_get(cfg, "boot.kernel");
	const char *initrd = config_get(cfg, "boot.initrd");
	const char *cmdline = config_get(cfg, "boot.cmdline");
	if (!kernel || !*kernel) {
		if ((initrd && *initrd) || (cmdline && *cmdline)) {
			snprintf(err, errlen, "boot.initrd and boot.cmdline need a boot.kernel");
			return -EINVAL;
		}
		return 0;
	}
	const char *why = "";
	uint8_t *k = NULL;
	uint32_t klen = 0;
	int rc = slurp(kernel, KERNEL_FILE_MAX, &k, &klen, &why);
	if (rc) {
		snprintf(err, errlen, "boot.kernel %s: %s", kernel,
			 rc == -EFBIG ? "larger than 256 MiB" : why);
		return rc;
	}
	uint32_t setup = 0;
	if (klen >= 0x260 && memcmp(k + 0x202, "HdrS", 4) == 0) {
		setup = ((uint32_t)(k[0x1f1] ? k[0x1f1] : 4) + 1) * 512;
		if (setup > klen)
			setup = 0; /* not a real bzImage: hand it over whole */
	}
	rc = add_sized(fc, FW_CFG_SETUP_SIZE, FW_CFG_SETUP_DATA, k, setup);
	if (rc == 0)
		rc = add_sized(fc, FW_CFG_KERNEL_SIZE, FW_CFG_KERNEL_DATA, k + setup, klen - setup);
	free(k);
	if (rc == 0 && initrd && *initrd) {
		uint8_t *i = NULL;
		uint32_t ilen = 0;
		rc = slurp(initrd, INITRD_FILE_MAX, &i, &ilen, &why);
		if (rc) {
			snprintf(err, errlen, "boot.initrd %s: %s", initrd,
				 rc == -EFBIG ? "larger than 1 GiB" : why);
			return rc;
		}
		rc = add_sized(fc, FW_CFG_INITRD_SIZE, FW_CFG_INITRD_DATA, i, ilen);
		free(i);
	}
	if (rc == 0 && cmdline && *cmdline)
		rc = add_sized(fc, FW_CFG_CMDLINE_SIZE, FW_CFG_CMDLINE_DATA, cmdline,
			       (uint32_t)strlen(cmdline) + 1);
	if (rc)
		snprintf(err, errlen, "fw_cfg: cannot add the kernel: %s", strerror(-rc));
	return rc;
}

/* bhyve's -f items (fwcfg.user.N.name with .string or .file), after kbhyve's own: a name
 * kbhyve already serves is refused rather than shadowed. */
static int add_user_items(struct fw_cfg *fc, struct cfgnode *cfg, char *err, size_t errlen)
{
	struct cfgnode *list = config_node(cfg, "fwcfg.user");
	for (struct cfgnode *it = list ? config_first_child(list) : NULL; it;
	     it = config_next_sibling(it)) {
		char key[64];
		snprintf(key, sizeof(key), "fwcfg.user.%s.name", config_name(it));
		const char *name = config_get_raw(cfg, key);
		snprintf(key, sizeof(key), "fwcfg.user.%s.string", config_name(it));
		const char *str = config_get_raw(cfg, key);
		snprintf(key, sizeof(key), "fwcfg.user.%s.file", config_name(it));
		const char *file = config_get(cfg, key);
		if (!name || !*name || (!str && !file) || (str && file)) {
			snprintf(err, errlen,
				 "fwcfg.user.%s: expected a name and one of string or file",
				 config_name(it));
			return -EINVAL;
		}
		uint8_t *data = NULL;
		uint32_t len = 0;
		int rc;
		if (file) {
			rc = read_user_file(name, file, &data, &len, err, errlen);
			if (rc)
				return rc;
		}
		rc = fw_cfg_add_file(fc, name, file ? (const void *)data : str,
				     file ? len : (uint32_t)strlen(str));
		free(data);
		if (rc == -EEXIST)
			snprintf(err, errlen,
				 "-f %s: the firmware configuration already has a file "
				 "of that name",
				 name);
		else if (rc == -ENAMETOOLONG)
			snprintf(err, errlen, "-f %s: fw_cfg file names are 1 to 55 bytes", name);
		else if (rc == -ENOSPC)
			snprintf(err, errlen, "-f %s: too many fw_cfg files", name);
		else if (rc)
			snprintf(err, errlen, "-f %s: %s", name, strerror(-rc));
		if (rc)
			return rc;
	}
	return 0;
}

bool fwcfg_has_user_items(struct cfgnode *cfg)
{
	struct cfgnode *list = config_node(cfg, "fwcfg.user");
	return list && config_first_child(list);
}

/* "bootorder": the devices with a bootindex, first the lowest (none: no file) */
static int add_bootorder(struct fw_cfg *fc, struct cfgnode *cfg, char *err, size_t errlen)
{
	char *paths;
	size_t len;
	int rc = bootorder_build(cfg, &paths, &len, err, errlen);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "fw_cfg: out of memory");
	if (rc || !paths)
		return rc;
	rc = fw_cfg_add_file(fc, "bootorder", paths, (uint32_t)len);
	free(paths);
	if (rc)
		snprintf(err, errlen, "fw_cfg: cannot add bootorder: %s", strerror(-rc));
	return rc;
}

/* A display is a PCI function whose emulation draws one (bhyve's fbuf). */
static bool has_display(struct cfgnode *cfg)
{
	struct cfgnode *pci = config_node(cfg, "pci");
	for (struct cfgnode *bus = pci ? config_first_child(pci) : NULL; bus;
	     bus = config_next_sibling(bus))
		for (struct cfgnode *slot = config_first_child(bus); slot;
		     slot = config_next_sibling(slot))
			for (struct cfgnode *fn = config_first_child(slot); fn;
			     fn = config_next_sibling(fn)) {
				const char *dev = config_get(fn, "device");
				if (dev && strcmp(dev, "fbuf") == 0)
					return true;
			}
	return false;
}

static void fwcfg_teardown(void *opaque)
{
	fw_cfg_fini(opaque);
	free(opaque);
}

int fwcfg_setup(struct vm *vm, const struct acpi_platform *acpi, char *err, size_t errlen)
{
	struct fw_cfg *fc = malloc(sizeof(*fc));
	if (!fc || fw_cfg_init(fc, &vm->mem) < 0) {
		free(fc);
		snprintf(err, errlen, "fw_cfg: out of memory");
		return -ENOMEM;
	}
	int rc = vm_at_destroy(vm, fwcfg_teardown, fc);
	if (rc) {
		fwcfg_teardown(fc);
		snprintf(err, errlen, "fw_cfg: out of memory");
		return rc;
	}
	uint8_t cpus[2];
	put_le16(cpus, (uint16_t)vm->nvcpus);
	uint8_t e820[3 * E820_ENTRY];
	size_t n = 0;
	put_e820(e820 + n++ * E820_ENTRY, 0, vm->mem.lowmem, 1 /* RAM */);
	if (vm->mem.highmem)
		put_e820(e820 + n++ * E820_ENTRY, GM_4G, vm->mem.highmem, 1);
	put_e820(e820 + n++ * E820_ENTRY, KVM_PRIVATE_BASE, KVM_PRIVATE_SIZE, 2 /* reserved */);
	/* as QEMU's -nographic: SeaBIOS then shows its screen (boot messages, menu) on COM1 */
	uint8_t nographic[2];
	put_le16(nographic, has_display(vm->cfg) ? 0 : 1);
	rc = fw_cfg_add_item(fc, FW_CFG_NB_CPUS, cpus, sizeof(cpus));
	if (rc == 0)
		rc = fw_cfg_add_item(fc, FW_CFG_NOGRAPHIC, nographic, sizeof(nographic));
	if (rc == 0)
		rc = fw_cfg_add_item(fc, FW_CFG_MAX_CPUS, cpus, sizeof(cpus));
	if (rc == 0)
		rc = fw_cfg_add_file(fc, "etc/e820", e820, (uint32_t)(n * E820_ENTRY));
	/* ACPI: OVMF installs only the tables a loader script describes (no in-memory scan) */
	struct acpi_loader_blobs acpi_blobs;
	if (rc == 0) {
		rc = acpi_loader_build(acpi, &acpi_blobs);
		if (rc) {
			snprintf(err, errlen, "fw_cfg: cannot build the ACPI tables: %s",
				 strerror(-rc));
			return rc;
		}
		rc = fw_cfg_add_file(fc, ACPI_LOADER_TABLES_FILE, acpi_blobs.tables,
				     (uint32_t)acpi_blobs.tables_len);
		if (rc == 0)
			rc = fw_cfg_add_file(fc, ACPI_LOADER_RSDP_FILE, acpi_blobs.rsdp,
					     sizeof(acpi_blobs.rsdp));
		if (rc == 0)
			rc = fw_cfg_add_file(fc, ACPI_LOADER_SCRIPT_FILE, acpi_blobs.script,
					     (uint32_t)acpi_blobs.script_len);
		acpi_loader_free(&acpi_blobs);
	}
	if (rc == 0) {
		rc = add_kernel_items(fc, vm->cfg, err, errlen);
		if (rc == 0)
			rc = add_bootorder(fc, vm->cfg, err, errlen);
		if (rc == 0)
			rc = add_user_items(fc, vm->cfg, err, errlen);
		if (rc)
			return rc;
	}
	if (rc == 0)
		rc = iobus_register(&vm->bus, IOBUS_PIO, FW_CFG_PORT_SEL, 2, fw_cfg_io, fc,
				    "fw_cfg");
	if (rc == 0)
		rc = iobus_register(&vm->bus, IOBUS_PIO, FW_CFG_PORT_DMA, 8, fw_cfg_dma_io, fc,
				    "fw_cfg_dma");
	if (rc)
		snprintf(err, errlen, "fw_cfg: cannot set up: %s", strerror(-rc));
	return rc;
}
