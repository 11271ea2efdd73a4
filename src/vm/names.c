/* PLACEHOLDER: replaced by the real implementation (owner writes this file). */
#include <errno.h>
#include <stdio.h>
#include "vm/names.h"
bool guest_name_valid(const char *name) { return false; }
bool switch_name_valid(const char *name) { return false; }
bool ifname_valid(const char *name) { return false; }
void mac_generate(const char *guest, int nic, uint64_t seed, char out[18]) { out[0] = 0; }
bool mac_valid(const char *mac) { return false; }
int uuid_generate(char out[37]) { return -ENOSYS; }
bool uuid_valid(const char *uuid) { return false; }
void tap_name(const char *guest, int nic, char out[16]) { out[0] = 0; }
void bridge_name(const char *sw, char out[16]) { out[0] = 0; }
