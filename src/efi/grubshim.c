/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kbhyve's EFI shim for vm's loader="grub" (a guest binary, not part of the VMM).
 *
 * OVMF starts the kernel that bhyve hands it through fw_cfg (QEMU's -kernel) before it connects
 * the drivers of the machine's disks, and GRUB for EFI only sees block devices whose drivers are
 * connected. So bhyve is given this application as the kernel and GRUB as the "initrd": it
 * connects every controller (recursively, as the firmware's boot manager would), then loads and
 * starts the initrd file of the file system it was itself loaded from (the firmware's fw_cfg
 * kernel loader). GRUB's status is returned when it exits.
 *
 * Freestanding: the few UEFI types it needs are declared here (UEFI 2.x, chapters 4, 7, 9, 10).
 * Built as a PE32+ EFI application with clang and lld-link.
 */
#include <stddef.h>
#include <stdint.h>

#define EFIAPI __attribute__((ms_abi))
typedef uint64_t efi_status;
typedef void *efi_handle;
typedef struct {
	uint32_t d1;
	uint16_t d2, d3;
	uint8_t d4[8];
} efi_guid;

#define EFI_SUCCESS 0
#define EFI_ERROR_BIT (1ULL << 63)
#define EFI_OUT_OF_RESOURCES (EFI_ERROR_BIT | 9)
#define ALL_HANDLES 0 /* EFI_LOCATE_SEARCH_TYPE AllHandles */
#define POOL_LOADER_DATA 2

struct efi_table_header {
	uint64_t signature;
	uint32_t revision, header_size, crc32, reserved;
};

struct efi_device_path {
	uint8_t type, subtype, length[2];
};

struct efi_simple_text_output {
	void *reset;
	efi_status(EFIAPI *output_string)(struct efi_simple_text_output *self, const uint16_t *s);
};

/* Boot services in table order; only the ones used are typed. */
struct efi_boot_services {
	struct efi_table_header hdr;
	void *raise_tpl, *restore_tpl;
	void *allocate_pages, *free_pages, *get_memory_map;
	efi_status(EFIAPI *allocate_pool)(int type, uint64_t size, void **buf);
	efi_status(EFIAPI *free_pool)(void *buf);
	void *create_event, *set_timer, *wait_for_event, *signal_event, *close_event,
	    *check_event;
	void *install_protocol_interface, *reinstall_protocol_interface,
	    *uninstall_protocol_interface;
	efi_status(EFIAPI *handle_protocol)(efi_handle h, const efi_guid *proto, void **iface);
	void *reserved;
	void *register_protocol_notify, *locate_handle, *locate_device_path,
	    *install_configuration_table;
	efi_status(EFIAPI *load_image)(uint8_t boot_policy, efi_handle parent,
				       struct efi_device_path *path, void *src, uint64_t size,
				       efi_handle *image);
	efi_status(EFIAPI *start_image)(efi_handle image, uint64_t *exit_size,
					uint16_t **exit_data);
	void *exit, *unload_image, *exit_boot_services;
	void *get_next_monotonic_count, *stall, *set_watchdog_timer;
	efi_status(EFIAPI *connect_controller)(efi_handle controller, efi_handle *drivers,
					       struct efi_device_path *remaining,
					       uint8_t recursive);
	void *disconnect_controller;
	void *open_protocol, *close_protocol, *open_protocol_information;
	void *protocols_per_handle;
	efi_status(EFIAPI *locate_handle_buffer)(int search, const efi_guid *proto, void *key,
						 uint64_t *count, efi_handle **buf);
};

struct efi_system_table {
	struct efi_table_header hdr;
	uint16_t *firmware_vendor;
	uint32_t firmware_revision;
	efi_handle console_in_handle;
	void *con_in;
	efi_handle console_out_handle;
	struct efi_simple_text_output *con_out;
	efi_handle standard_error_handle;
	struct efi_simple_text_output *std_err;
	void *runtime_services;
	struct efi_boot_services *boot_services;
};

struct efi_loaded_image {
	uint32_t revision;
	efi_handle parent_handle;
	struct efi_system_table *system_table;
	efi_handle device_handle;
	struct efi_device_path *file_path;
	/* the rest is not used */
};

static const efi_guid loaded_image_guid = {
    0x5b1b31a1, 0x9562, 0x11d2, {0x8e, 0x3f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b}};
static const efi_guid device_path_guid = {
    0x09576e91, 0x6d3f, 0x11d2, {0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b}};

#define DP_END_TYPE 0x7f
#define DP_END_ENTIRE 0xff
#define DP_MEDIA_TYPE 4
#define DP_MEDIA_FILEPATH 4

static const uint16_t initrd_name[] = {'i', 'n', 'i', 't', 'r', 'd', 0};

static void say(struct efi_system_table *st, const char *msg)
{
	uint16_t buf[160];
	size_t i = 0;
	for (; msg[i] && i < sizeof(buf) / sizeof(buf[0]) - 1; i++)
		buf[i] = (uint16_t)(unsigned char)msg[i];
	buf[i] = 0;
	if (st->con_out)
		st->con_out->output_string(st->con_out, buf);
}

static size_t dp_len(const struct efi_device_path *p)
{
	return (size_t)p->length[0] | (size_t)p->length[1] << 8;
}

/* Every controller with every driver that can manage it, twice: the second pass binds what the
 * first one created (partitions, file systems). */
static void connect_all(struct efi_boot_services *bs)
{
	for (int pass = 0; pass < 2; pass++) {
		uint64_t n = 0;
		efi_handle *h = NULL;
		if (bs->locate_handle_buffer(ALL_HANDLES, NULL, NULL, &n, &h) & EFI_ERROR_BIT)
			return;
		for (uint64_t i = 0; i < n; i++)
			bs->connect_controller(h[i], NULL, NULL, 1);
		bs->free_pool(h);
	}
}

/* <the device path of dev>/initrd: the fw_cfg loader's initrd file, beside our own image (named
 * as OVMF names its own kernel file, without a leading backslash). */
static struct efi_device_path *initrd_path(struct efi_boot_services *bs, efi_handle dev)
{
	struct efi_device_path *base;
	if (bs->handle_protocol(dev, &device_path_guid, (void **)&base) & EFI_ERROR_BIT)
		return NULL;
	size_t len = 0;
	for (const struct efi_device_path *p = base; p->type != DP_END_TYPE;
	     p = (const void *)((const uint8_t *)p + dp_len(p)))
		len += dp_len(p);
	size_t node = 4 + sizeof(initrd_name);
	uint8_t *out;
	if (bs->allocate_pool(POOL_LOADER_DATA, len + node + 4, (void **)&out) & EFI_ERROR_BIT)
		return NULL;
	for (size_t i = 0; i < len; i++)
		out[i] = ((const uint8_t *)base)[i];
	uint8_t *f = out + len;
	f[0] = DP_MEDIA_TYPE;
	f[1] = DP_MEDIA_FILEPATH;
	f[2] = (uint8_t)node;
	f[3] = (uint8_t)(node >> 8);
	for (size_t i = 0; i < sizeof(initrd_name); i++)
		f[4 + i] = ((const uint8_t *)initrd_name)[i];
	uint8_t *e = f + node;
	e[0] = DP_END_TYPE;
	e[1] = DP_END_ENTIRE;
	e[2] = 4;
	e[3] = 0;
	return (struct efi_device_path *)out;
}

efi_status EFIAPI efi_main(efi_handle image, struct efi_system_table *st);
efi_status EFIAPI efi_main(efi_handle image, struct efi_system_table *st)
{
	struct efi_boot_services *bs = st->boot_services;
	struct efi_loaded_image *self;
	if (bs->handle_protocol(image, &loaded_image_guid, (void **)&self) & EFI_ERROR_BIT) {
		say(st, "kbhyve grubshim: no loaded-image protocol\r\n");
		return EFI_OUT_OF_RESOURCES;
	}
	connect_all(bs);
	struct efi_device_path *path = initrd_path(bs, self->device_handle);
	if (!path) {
		say(st, "kbhyve grubshim: no device path for the initrd\r\n");
		return EFI_OUT_OF_RESOURCES;
	}
	efi_handle grub;
	efi_status s = bs->load_image(0, image, path, NULL, 0, &grub);
	bs->free_pool(path);
	if (s & EFI_ERROR_BIT) {
		say(st, "kbhyve grubshim: cannot load GRUB (the fw_cfg initrd)\r\n");
		return s;
	}
	return bs->start_image(grub, NULL, NULL);
}
