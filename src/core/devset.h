/* SPDX-License-Identifier: BSD-2-Clause */
/* Linker sets: a device file registers itself with one line; the core walks the set.
 * (bhyve uses linker sets for PCI emulations, kvmtool constructor-driven init levels.) */
#ifndef KB_DEVSET_H
#define KB_DEVSET_H

#define DEVSET_ENTRY(set, sym)                                                              \
	static const void *const __devset_##set##_##sym                                     \
		__attribute__((used, section("kbset_" #set), aligned(sizeof(void *)))) = &(sym)

#define DEVSET_DECLARE(set)                                                                 \
	extern const void *const __start_kbset_##set[] __attribute__((weak));               \
	extern const void *const __stop_kbset_##set[] __attribute__((weak))

#define DEVSET_FOREACH(set, type, var)                                                      \
	for (const void *const *var##_it = __start_kbset_##set;                             \
	     var##_it < __stop_kbset_##set && ((var) = (type)*var##_it, 1); var##_it++)

#endif
