/* SPDX-License-Identifier: BSD-2-Clause */
/* Loading and mapping -l bootrom,CODE[,VARS] (see bootrom.h). */
#include "boot/bootrom.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/guestmem.h"
#include "core/hostpath.h"
#include "core/log.h"
#include "core/vm.h"

#define PAGE_4K 4096u
#define RESET_VECTOR_LEN 16 /* the reset vector is the last 16 bytes below 4 GiB */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static int read_full(int fd, uint8_t *buf, uint64_t len)
{
	uint64_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, buf + done, len - done, (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* shrank while reading */
		done += (uint64_t)r;
	}
	return 0;
}

/* Open a firmware file and check its size: a non-empty regular file, a whole number of 4 KiB
 * pages, at most `max` bytes. `what` names it in messages ("boot ROM", "UEFI variable file"). */
static int open_image(const char *what, const char *path, int flags, uint64_t max, int *fd_out,
		      uint64_t *size_out, char *err, size_t errlen)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (flags == O_RDWR && (e == EACCES || e == EROFS || e == EPERM))
			return fail(err, errlen, -e, "%s %s: not writable: %s", what, path,
				    strerror(e));
		return fail(err, errlen, -e, "%s %s: %s", what, path, strerror(e));
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0)
		rc = fail(err, errlen, -errno, "%s %s: %s", what, path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = fail(err, errlen, -EINVAL, "%s %s: not a regular file", what, path);
	else if (st.st_size == 0)
		rc = fail(err, errlen, -EINVAL, "%s %s: file is empty", what, path);
	else if (st.st_size % PAGE_4K)
		rc = fail(err, errlen, -EINVAL, "%s %s: size %lld is not a multiple of 4 KiB", what,
			  path, (long long)st.st_size);
	else if ((uint64_t)st.st_size > max)
		rc = fail(
		    err, errlen, -EFBIG,
		    "%s %s: %lld bytes do not fit the %llu KiB left in the 16 MiB flash window "
		    "below 4 GiB",
		    what, path, (long long)st.st_size, (unsigned long long)(max >> 10));
	if (rc) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	*size_out = (uint64_t)st.st_size;
	return 0;
}

static bool is_power_of_two(uint64_t x)
{
	return x && !(x & (x - 1));
}

static int load_code(struct bootrom *br, char *err, size_t errlen)
{
	int fd;
	int rc = open_image("boot ROM", br->code_path, O_RDONLY, BOOTROM_WINDOW_SIZE, &fd,
			    &br->code_size, err, errlen);
	if (rc)
		return rc;
	void *p =
	    mmap(NULL, br->code_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		rc = fail(err, errlen, -errno, "boot ROM %s: cannot allocate memory: %s",
			  br->code_path, strerror(errno));
		close(fd);
		return rc;
	}
	br->code = p;
	rc = read_full(fd, br->code, br->code_size);
	close(fd);
	if (rc)
		return fail(err, errlen, rc, "boot ROM %s: %s", br->code_path, strerror(-rc));
	/* Every x86 firmware image has its reset vector (a jump) in its last 16 bytes. */
	const uint8_t *rv = br->code + br->code_size - RESET_VECTOR_LEN;
	bool all00 = true, allff = true;
	for (int i = 0; i < RESET_VECTOR_LEN; i++) {
		all00 &= rv[i] == 0x00;
		allff &= rv[i] == 0xff;
	}
	if (all00 || allff)
		return fail(
		    err, errlen, -EINVAL,
		    "boot ROM %s: not a firmware image (no reset vector in its last 16 bytes)",
		    br->code_path);
	return 0;
}

static int load_vars(struct bootrom *br, char *err, size_t errlen)
{
	int rc = open_image("UEFI variable file", br->vars_path, O_RDWR,
			    BOOTROM_WINDOW_SIZE - br->code_size, &br->vars_fd, &br->vars_size, err,
			    errlen);
	if (rc)
		return rc;
	hostpath_note(br->vars_path, HOSTPATH_READ | HOSTPATH_WRITE); /* written while running */
	/* Firmware is built for one flash device: code and variables fill it together (OVMF 4M:
	 * 0x37C000 + 0x84000; 2M: 0x1E0000 + 0x20000). Another size is another build's file. */
	if (!is_power_of_two(br->code_size + br->vars_size))
		return fail(err, errlen, -EINVAL,
			    "UEFI variable file %s: its size %llu does not match boot ROM %s (%llu "
			    "bytes): together they must fill the firmware's flash (e.g. 4 MiB)",
			    br->vars_path, (unsigned long long)br->vars_size, br->code_path,
			    (unsigned long long)br->code_size);
	/* page-aligned: it becomes a read-only memslot in read-array mode */
	void *p =
	    mmap(NULL, br->vars_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fail(err, errlen, -ENOMEM, "UEFI variable file %s: out of memory",
			    br->vars_path);
	br->vars = p;
	rc = read_full(br->vars_fd, br->vars, br->vars_size);
	if (rc)
		return fail(err, errlen, rc, "UEFI variable file %s: %s", br->vars_path,
			    strerror(-rc));
	return 0;
}

int bootrom_open(struct cfgnode *cfg, struct bootrom **out, char *err, size_t errlen)
{
	*out = NULL;
	const char *code = config_get(cfg, "lpc.bootrom");
	const char *vars = config_get(cfg, "lpc.bootvars");
	if (!code) {
		if (vars)
			return fail(err, errlen, -EINVAL,
				    "lpc.bootvars %s: variables need a boot ROM (lpc.bootrom)",
				    vars);
		return 0;
	}
	if (!*code)
		return fail(err, errlen, -EINVAL, "lpc.bootrom: empty file name");
	const char *fwcfg = config_get(cfg, "lpc.fwcfg");
	if (fwcfg && strcmp(fwcfg, "bhyve") != 0 && strcmp(fwcfg, "qemu") != 0)
		return fail(err, errlen, -EINVAL, "lpc.fwcfg=%s: expected bhyve or qemu", fwcfg);
	/* with QEMU's fw_cfg a kernel goes to the firmware, as QEMU's -kernel does */
	const char *kernel = config_get(cfg, "boot.kernel");
	if (kernel && *kernel && !(fwcfg && strcmp(fwcfg, "qemu") == 0))
		return fail(err, errlen, -EINVAL,
			    "boot ROM %s and boot.kernel %s: the firmware gets a kernel only "
			    "through QEMU's fw_cfg (-l bootrom,...,fwcfg=qemu)",
			    code, kernel);
	const char *raw = config_get(cfg, "boot.raw");
	if (raw && *raw)
		return fail(err, errlen, -EINVAL,
			    "boot ROM %s and boot.raw %s: give one way to boot, not both", code,
			    raw);
	struct bootrom *br = calloc(1, sizeof(*br));
	if (!br)
		return fail(err, errlen, -ENOMEM, "out of memory");
	br->vars_fd = -1;
	br->code_path = strdup(code);
	br->vars_path = vars ? strdup(vars) : NULL;
	int rc;
	if (!br->code_path || (vars && !br->vars_path))
		rc = fail(err, errlen, -ENOMEM, "out of memory");
	else
		rc = load_code(br, err, errlen);
	if (rc == 0 && vars)
		rc = load_vars(br, err, errlen);
	if (rc) {
		bootrom_free(br);
		return rc;
	}
	br->code_base = GM_4G - br->code_size;
	br->vars_base = br->code_base - br->vars_size;
	if (br->vars) {
		cfi_flash_init(&br->flash, br->vars, br->vars_size, br->vars_fd, br->vars_path);
		br->flash_ready = true;
	}
	*out = br;
	return 0;
}

/* Writes to the read-only CODE slot exit here; ROM ignores them. Reads never exit (memslot). */
static int rom_access(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct bootrom *br = opaque;
	if (is_write) {
		kb_debug("boot ROM: guest write of %u bytes at %#llx ignored", size,
			 (unsigned long long)(br->code_base + off));
		return 0;
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < size && off + i < br->code_size; i++)
		v |= (uint64_t)br->code[off + i] << (8 * i);
	*val = v;
	return 0;
}

static int set_slot(int vm_fd, unsigned slot, uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
	    .slot = slot,
	    .flags = size ? KVM_MEM_READONLY : 0,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uintptr_t)host,
	};
	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/* The flash's read-array mode (cfi_direct_fn): VARS as a read-only memslot, so that OVMF's many
 * variable-store reads run in the guest; writes still exit as MMIO to the flash model. Deleting
 * the slot puts every access back on the model. */
static int vars_direct(void *ctx, bool direct)
{
	struct bootrom *br = ctx;
	int rc = set_slot(br->vm_fd, br->vars_slot, br->vars_base, direct ? br->vars_size : 0,
			  direct ? br->vars : NULL);
	if (rc < 0)
		kb_debug("UEFI variable file %s: %s its memslot: %s", br->vars_path,
			 direct ? "cannot map" : "cannot remove", strerror(-rc));
	return rc;
}

/* A BIOS (SeaBIOS) jumps from its reset vector into 0xE0000-0xFFFFF and keeps its real-mode code
 * there. That range is guest RAM here, so the BIOS's shadowing (i440FX PAM) finds it writable. */
#define ISA_BIOS_END 0x100000ULL
#define ISA_BIOS_MAX (128ULL << 10)

void bootrom_fill_isa_bios(struct guestmem *gm, const struct bootrom *br)
{
	uint64_t n = br->code_size < ISA_BIOS_MAX ? br->code_size : ISA_BIOS_MAX;
	if (gm->lowmem < ISA_BIOS_END)
		return;
	memcpy(gm->host + ISA_BIOS_END - n, br->code + br->code_size - n, n);
}

int bootrom_map(struct vm *vm, struct bootrom *br, unsigned slot, char *err, size_t errlen)
{
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return fail(err, errlen, -ENOTSUP,
			    "boot ROM %s: this KVM has no read-only memory slots "
			    "(KVM_CAP_READONLY_MEM)",
			    br->code_path);
	bootrom_fill_isa_bios(&vm->mem, br);
	int rc = set_slot(vm->vm_fd, slot, br->code_base, br->code_size, br->code);
	if (rc < 0)
		return fail(err, errlen, rc, "boot ROM %s: KVM_SET_USER_MEMORY_REGION: %s",
			    br->code_path, strerror(-rc));
	rc = iobus_register(&vm->bus, IOBUS_MMIO, br->code_base, br->code_size, rom_access, br,
			    "bootrom");
	if (rc == 0 && br->vars)
		rc = iobus_register(&vm->bus, IOBUS_MMIO, br->vars_base, br->vars_size,
				    cfi_flash_access, &br->flash, "bootvars");
	if (rc == 0 && br->vars) {
		br->vm_fd = vm->vm_fd;
		br->vars_slot = slot + 1;
		cfi_flash_set_direct_hook(&br->flash, vars_direct, br);
	}
	if (rc)
		return fail(err, errlen, rc, "boot ROM %s: cannot register its flash window: %s",
			    br->code_path, strerror(-rc));
	return 0;
}

void bootrom_free(struct bootrom *br)
{
	if (!br)
		return;
	if (br->flash_ready)
		cfi_flash_fini(&br->flash);
	if (br->code)
		munmap(br->code, br->code_size);
	if (br->vars)
		munmap(br->vars, br->vars_size);
	if (br->vars_fd >= 0)
		close(br->vars_fd);
	free((char *)br->code_path);
	free((char *)br->vars_path);
	free(br);
}
