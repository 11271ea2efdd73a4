/* SPDX-License-Identifier: BSD-2-Clause */
/* boot_linux(): read the kernel file, tell a bzImage from an ELF vmlinux, and the pieces both
 * loaders share (command line, initrd, GDT). */
#include "boot/boot.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/linux_load.h"

/* A kernel file larger than this is not a kernel (an ELF vmlinux with debug info is < 1 GiB). */
#define KERNEL_FILE_MAX (1ULL << 30)
#define BZIMAGE_MAGIC_OFF 0x202

int boot_fail(struct linux_load *ld, int rc, const char *fmt, ...)
{
	if (ld->err && ld->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ld->err, ld->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

bool boot_range_is_ram(const struct linux_load *ld, uint64_t addr, uint64_t size)
{
	if (size == 0 || size > UINT64_MAX - addr || !gm_ptr(ld->gm, addr, size))
		return false;
	const struct e820_map *m = ld->e820;
	uint64_t cur = addr, end = addr + size;
	/* Walk across touching RAM entries; each round advances cur or gives up. */
	for (int round = 0; round < m->n; round++) {
		bool advanced = false;
		for (int i = 0; i < m->n; i++) {
			const struct e820_entry *e = &m->e[i];
			if (e->type != E820_RAM || cur < e->addr || cur - e->addr >= e->size)
				continue;
			cur = e->addr + e->size;
			advanced = true;
			break;
		}
		if (cur >= end)
			return true;
		if (!advanced)
			return false;
	}
	return false;
}

int boot_write_cmdline(struct linux_load *ld, uint64_t max_len)
{
	if (max_len > BOOT_CMDLINE_MAX - 1)
		max_len = BOOT_CMDLINE_MAX - 1;
	if (ld->cmdline_len > max_len)
		return boot_fail(ld, -EINVAL,
				 "kernel command line too long (%zu bytes, at most %llu)",
				 ld->cmdline_len, (unsigned long long)max_len);
	if (gm_write(ld->gm, BOOT_CMDLINE_ADDR, ld->cmdline, ld->cmdline_len + 1) != 0)
		return boot_fail(ld, -EFAULT, "guest memory too small for the kernel command line");
	return 0;
}

static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int boot_load_initrd(struct linux_load *ld, uint64_t floor, uint64_t limit, uint64_t *addr)
{
	*addr = 0;
	if (ld->initrd_fd < 0)
		return 0;
	uint64_t size = ld->initrd_size, best = 0;
	bool found = false;
	for (int i = 0; i < ld->e820->n; i++) {
		const struct e820_entry *e = &ld->e820->e[i];
		if (e->type != E820_RAM)
			continue;
		uint64_t lo = e->addr > floor ? e->addr : floor;
		uint64_t hi = e->addr + e->size < limit ? e->addr + e->size : limit;
		if (hi <= lo || hi - lo < size)
			continue;
		uint64_t a = (hi - size) & ~(BOOT_PAGE_SIZE - 1);
		if (a < lo || (found && a <= best))
			continue;
		best = a;
		found = true;
	}
	void *dst = found ? gm_ptr(ld->gm, best, size) : NULL;
	if (!dst)
		return boot_fail(
		    ld, -ENOMEM,
		    "initrd %s (%llu bytes) does not fit in guest memory between 0x%llx and "
		    "0x%llx",
		    ld->initrd_path, (unsigned long long)size, (unsigned long long)floor,
		    (unsigned long long)limit);
	ssize_t r = pread_full(ld->initrd_fd, dst, size, 0);
	if (r < 0)
		return boot_fail(ld, (int)r, "initrd %s: %s", ld->initrd_path, strerror((int)-r));
	if ((uint64_t)r != size)
		return boot_fail(ld, -EIO, "initrd %s: file shrank while reading", ld->initrd_path);
	*addr = best;
	return 0;
}

int boot_write_gdt(struct linux_load *ld, uint64_t code_desc, struct boot_cpu_state *out)
{
	const uint64_t gdt[BOOT_GDT_ENTRIES] = {0, 0, code_desc, BOOT_GDT_DATA};
	if (gm_write(ld->gm, BOOT_GDT_ADDR, gdt, sizeof(gdt)) != 0)
		return boot_fail(ld, -EFAULT, "guest memory too small for the GDT");
	out->gdt_base = BOOT_GDT_ADDR;
	out->gdt_limit = sizeof(gdt) - 1;
	return 0;
}

/* Open a regular file for reading; -errno with the message "WHAT PATH: reason". */
static int open_input(struct linux_load *ld, const char *what, const char *path, int *fd_out,
		      uint64_t *size_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return boot_fail(ld, -e, "%s %s: %s", what, path, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return boot_fail(ld, -e, "%s %s: %s", what, path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return boot_fail(ld, -EINVAL, "%s %s: not a regular file", what, path);
	}
	*fd_out = fd;
	*size_out = (uint64_t)st.st_size;
	return 0;
}

static int read_kernel(struct linux_load *ld, uint8_t **buf_out)
{
	int fd;
	uint64_t size;
	int rc = open_input(ld, "kernel", ld->kernel_path, &fd, &size);
	if (rc)
		return rc;
	if (size > KERNEL_FILE_MAX) {
		close(fd);
		return boot_fail(ld, -EFBIG, "kernel %s: too large for a kernel (%llu bytes)",
				 ld->kernel_path, (unsigned long long)size);
	}
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf) {
		close(fd);
		return boot_fail(ld, -ENOMEM, "kernel %s: out of memory reading it",
				 ld->kernel_path);
	}
	ssize_t r = pread_full(fd, buf, size, 0);
	close(fd);
	if (r < 0) {
		free(buf);
		return boot_fail(ld, (int)r, "kernel %s: %s", ld->kernel_path, strerror((int)-r));
	}
	/* A file that shrank while reading is judged on what was read. */
	ld->kernel = buf;
	ld->kernel_size = (size_t)r;
	*buf_out = buf;
	return 0;
}

int boot_linux(struct guestmem *gm, const struct boot_params_in *in, struct boot_cpu_state *out,
	       char *err, size_t errlen)
{
	struct linux_load ld = {
	    .gm = gm,
	    .e820 = in->e820,
	    .kernel_path = in->kernel_path,
	    .initrd_path = in->initrd_path,
	    .initrd_fd = -1,
	    .cmdline = in->cmdline ? in->cmdline : "",
	    .rsdp_gpa = in->rsdp_gpa,
	    .err = err,
	    .errlen = errlen,
	};
	if (err && errlen)
		err[0] = '\0';
	if (!in->kernel_path)
		return boot_fail(&ld, -EINVAL, "no kernel file given");
	if (!in->e820 || in->e820->n < 1 || in->e820->n > E820_MAX)
		return boot_fail(&ld, -EINVAL, "no valid E820 memory map for the guest");
	ld.cmdline_len = strnlen(ld.cmdline, BOOT_CMDLINE_MAX);
	if (ld.cmdline_len >= BOOT_CMDLINE_MAX)
		return boot_fail(&ld, -EINVAL, "kernel command line too long (at most %d bytes)",
				 BOOT_CMDLINE_MAX - 1);
	memset(out, 0, sizeof(*out));

	int rc;
	if (in->initrd_path) {
		rc = open_input(&ld, "initrd", in->initrd_path, &ld.initrd_fd, &ld.initrd_size);
		if (rc)
			return rc;
		if (ld.initrd_size == 0) {
			close(ld.initrd_fd);
			return boot_fail(&ld, -EINVAL, "initrd %s: file is empty", in->initrd_path);
		}
	}
	uint8_t *kernel = NULL;
	rc = read_kernel(&ld, &kernel);
	if (rc == 0) {
		if (ld.kernel_size >= SELFMAG && memcmp(ld.kernel, ELFMAG, SELFMAG) == 0)
			rc = linux_load_pvh(&ld, out);
		else if (ld.kernel_size >= BZIMAGE_MAGIC_OFF + 4 &&
			 memcmp(ld.kernel + BZIMAGE_MAGIC_OFF, "HdrS", 4) == 0)
			rc = linux_load_bzimage(&ld, out);
		else
			rc = boot_fail(&ld, -EINVAL,
				       "%s: not a Linux kernel (neither bzImage nor ELF vmlinux)",
				       ld.kernel_path);
	}
	free(kernel);
	if (ld.initrd_fd >= 0)
		close(ld.initrd_fd);
	return rc;
}
