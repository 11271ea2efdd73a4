/* A minimal i8042 keyboard controller at ports 0x60 (data) and 0x64 (status/command).
 *
 * No keyboard or mouse sits behind it and it raises no interrupts: it answers the controller
 * commands that probes use (command byte, self-tests, port enable/disable, output port) and
 * implements the reset line, which Linux pulses to reboot (command 0xFE, or writing the output
 * port with bit 0 clear). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/exitcode.h"
#include "core/iobus.h"
#include "core/log.h"
#include "core/vm.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

#define STS_OBF 0x01 /* output buffer full: a byte waits at the data port */
#define STS_SYS 0x04 /* system flag: self-test passed */
#define STS_CMD 0x08 /* the last write went to the command port */

#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20

#define OUTPORT_RESET 0x01 /* 0 holds the CPU in reset */
#define OUTPORT_A20 0x02

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xA7
#define CMD_AUX_ENABLE 0xA8
#define CMD_AUX_TEST 0xA9
#define CMD_SELF_TEST 0xAA
#define CMD_KBD_TEST 0xAB
#define CMD_KBD_DISABLE 0xAD
#define CMD_KBD_ENABLE 0xAE
#define CMD_READ_OUTPORT 0xD0
#define CMD_WRITE_OUTPORT 0xD1
#define CMD_PULSE_FIRST 0xF0 /* 0xF0-0xFF pulse output-port bits 0-3 that are 0 in the command */

#define OUTQ_SIZE 8

static struct {
	pthread_mutex_t lock;
	struct vm *vm;
	uint8_t ctr;	 /* the command byte */
	uint8_t outport; /* output port: reset line, A20 */
	uint8_t pending; /* command that waits for its data byte, or 0 */
	bool last_cmd;
	uint8_t outq[OUTQ_SIZE];
	unsigned outq_head, outq_len;
	uint8_t last_read;
} kbc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void reply(uint8_t b)
{
	if (kbc.outq_len < OUTQ_SIZE) {
		kbc.outq[(kbc.outq_head + kbc.outq_len) % OUTQ_SIZE] = b;
		kbc.outq_len++;
	}
}

static void reset_system(const char *why)
{
	kb_debug("i8042: %s: reset", why);
	vm_request_exit(kbc.vm, BHYVE_EXIT_REBOOT);
}

static void command(uint8_t cmd)
{
	kbc.pending = 0;
	switch (cmd) {
	case CMD_READ_CTR:
		reply(kbc.ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
		kbc.pending = cmd;
		break;
	case CMD_AUX_DISABLE:
		kbc.ctr |= CTR_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		kbc.ctr &= ~CTR_AUX_DISABLE;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		reply(0x00); /* interface OK */
		break;
	case CMD_SELF_TEST:
		reply(0x55);
		break;
	case CMD_KBD_DISABLE:
		kbc.ctr |= CTR_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		kbc.ctr &= ~CTR_KBD_DISABLE;
		break;
	case CMD_READ_OUTPORT:
		reply(kbc.outport);
		break;
	default:
		if (cmd >= CMD_PULSE_FIRST && !(cmd & OUTPORT_RESET))
			reset_system("reset line pulsed");
		/* other commands talk to devices that are not there */
		break;
	}
}

static void data_write(uint8_t val)
{
	uint8_t cmd = kbc.pending;
	kbc.pending = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		kbc.ctr = val;
		break;
	case CMD_WRITE_OUTPORT:
		kbc.outport = val;
		if (!(val & OUTPORT_RESET))
			reset_system("output port reset bit cleared");
		break;
	default: /* a byte for the keyboard, which is absent */
		break;
	}
}

static uint8_t data_read(void)
{
	if (kbc.outq_len) {
		kbc.last_read = kbc.outq[kbc.outq_head];
		kbc.outq_head = (kbc.outq_head + 1) % OUTQ_SIZE;
		kbc.outq_len--;
	}
	return kbc.last_read; /* an empty buffer reads the previous byte again */
}

static uint8_t status(void)
{
	return STS_SYS | (kbc.outq_len ? STS_OBF : 0) | (kbc.last_cmd ? STS_CMD : 0);
}

static int i8042_io(bool cmd_port, unsigned size, bool is_write, uint64_t *val)
{
	pthread_mutex_lock(&kbc.lock);
	if (is_write) {
		uint8_t b = (uint8_t)*val;
		kbc.last_cmd = cmd_port;
		if (cmd_port)
			command(b);
		else
			data_write(b);
	} else {
		uint8_t b = cmd_port ? status() : data_read();
		/* bytes beyond the 1-byte port float high */
		uint64_t v = ~0xFFull | b;
		if (size < 8)
			v &= (1ull << (8 * size)) - 1;
		*val = v;
	}
	pthread_mutex_unlock(&kbc.lock);
	return 0;
}

static int i8042_data_io(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val)
{
	return i8042_io(false, size, is_write, val);
}

static int i8042_cmd_io(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val)
{
	return i8042_io(true, size, is_write, val);
}

static int i8042_init(struct vm *vm)
{
	/* a fresh controller: nothing queued or pending from an earlier VM in this process */
	kbc.pending = 0;
	kbc.last_cmd = false;
	kbc.outq_head = kbc.outq_len = 0;
	kbc.last_read = 0;
	kbc.vm = vm;
	kbc.ctr = 0x45; /* as a PC BIOS leaves it: keyboard interrupt, system flag, translation */
	kbc.outport = OUTPORT_RESET | OUTPORT_A20;
	int rc =
	    iobus_register(&vm->bus, IOBUS_PIO, I8042_DATA_PORT, 1, i8042_data_io, NULL, "i8042");
	if (rc == 0) {
		rc = iobus_register(&vm->bus, IOBUS_PIO, I8042_CMD_PORT, 1, i8042_cmd_io, NULL,
				    "i8042");
		if (rc)
			iobus_unregister(&vm->bus, IOBUS_PIO, I8042_DATA_PORT);
	}
	if (rc)
		kb_log("i8042: I/O ports %#x/%#x: %s", I8042_DATA_PORT, I8042_CMD_PORT,
		       strerror(-rc));
	return rc;
}

static const struct platform_device i8042_device = {
    .name = "i8042",
    .order = 30,
    .init = i8042_init,
};
PLATFORM_DEVICE(i8042_device);
