/* SPDX-License-Identifier: BSD-2-Clause */
/* The guest half of the durability test (runs as root inside an L2 test guest): writes numbered
 * 4 KiB records to a disk with O_DIRECT, makes each durable with fdatasync (a FLUSH to the device),
 * and only then prints "KBREC n" on the console; it goes on until the VMM is killed under it.
 * Record n lies at byte n * 4096 and is "KBREC %08u\n" repeated (the last copy cut short), so the
 * host can tell an intact record from a torn or missing one.
 * Usage: durable-writer DEVICE [COUNT] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORD 4096

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: durable-writer DEVICE [COUNT]\n");
		return 2;
	}
	unsigned count = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 1000000;
	int fd = open(argv[1], O_WRONLY | O_DIRECT);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	char *buf = aligned_alloc(RECORD, RECORD);
	if (!buf)
		return 1;
	setvbuf(stdout, NULL, _IONBF, 0);
	for (unsigned n = 0; n < count; n++) {
		char head[24];
		snprintf(head, sizeof(head), "KBREC %08u\n", n % 100000000u);
		for (size_t at = 0; at < RECORD; at += 15)
			memcpy(buf + at, head, RECORD - at < 15 ? RECORD - at : 15);
		if (pwrite(fd, buf, RECORD, (off_t)n * RECORD) != RECORD) {
			perror("pwrite");
			return 1;
		}
		if (fdatasync(fd) < 0) {
			perror("fdatasync");
			return 1;
		}
		printf("KBREC %u\n", n);
	}
	printf("KBREC done\n");
	return 0;
}
