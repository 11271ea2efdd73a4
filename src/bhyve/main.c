/* SPDX-License-Identifier: BSD-2-Clause */
/* bhyve: run one guest on KVM with bhyve(8)'s command line and exit codes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config/config.h"
#include "config/options.h"
#include "core/ctl.h"
#include "core/exitcode.h"
#include "core/log.h"
#include "core/machine.h"
#include "core/proctitle.h"
#include "core/vm.h"
#include "devices/pm.h"
#include "sandbox/sandbox.h"
#include "snapshot/checkpoint.h"
#include "snapshot/migrate.h"

static void on_signal(int fd, uint32_t events, void *opaque)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
			/* bhyve(8): SIGTERM presses the ACPI power button */
			kb_debug("SIGTERM: pressing the power button");
			pm_power_button();
			break;
		default:
			kb_log("terminated by signal %u", si.ssi_signo);
			vm_request_exit(vm, BHYVE_EXIT_ERROR);
			break;
		}
	}
}

/* Every device and backend is open and no vCPU runs yet: confine the process (bhyve's Capsicum
 * step). sandbox=off is for debugging only and says so. */
static int enter_sandbox(struct cfgnode *cfg)
{
	bool on = true;
	if (config_get_bool(cfg, "sandbox", true, &on) < 0) {
		kb_log("sandbox: not a boolean: %s", config_get(cfg, "sandbox"));
		return -1;
	}
	if (!on) {
		kb_log("warning: sandbox=off: this VM runs unconfined, with every privilege of its "
		       "user (for debugging only)");
		return 0;
	}
	char err[512] = "";
	if (sandbox_enter(err, sizeof(err)) < 0) {
		kb_log("%s", err);
		return -1;
	}
	return 0;
}

static void free_args(char **args, int argc)
{
	for (int i = 0; i < argc; i++)
		free(args[i]);
	free(args);
}

/* Parse the command line and run the VM; returns the process exit status. */
static int run(int argc, char **argv, char **args, struct cfgnode *cfg)
{
	char err[512] = "";
	int status = BHYVE_EXIT_ERROR;
	int rc = bhyve_options_parse(argc, args, cfg, stdout, &status, err, sizeof(err));
	if (rc < 0) {
		if (err[0]) /* empty: the line that says why is out already */
			kb_log("%s", err);
		return BHYVE_EXIT_ERROR;
	}
	if (rc > 0)
		return status;

	bool dump = false;
	if (config_get_bool(cfg, "config.dump", false, &dump) < 0) {
		kb_log("config.dump: not a boolean");
		return BHYVE_EXIT_ERROR;
	}
	if (dump) {
		/* bhyve prints the configuration and exits with status 1; without config.dump
		 * itself, so that the output read back with -k runs the VM */
		config_unset(cfg, "config.dump");
		config_dump(cfg, stdout);
		return 1;
	}

	char title[256];
	snprintf(title, sizeof(title), "bhyve: %s", config_get(cfg, "name"));
	proctitle_set(argc, argv, title);

	/* Signals go to the event loop; vCPU threads inherit the blocked mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	const char *restore = config_get(cfg, "restore.file");
	const char *incoming = config_get(cfg, "migrate.listen");
	if (restore && incoming) {
		kb_log("-r and -R cannot be used together: restore from a file, or receive a migration");
		return BHYVE_EXIT_ERROR;
	}
	struct vm *vm = vm_create(cfg, err, sizeof(err));
	if (!vm) {
		if (err[0]) /* empty: the line that says why is out already */
			kb_log("%s", err);
		return BHYVE_EXIT_ERROR;
	}
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || !evloop_add_fd(vm->ev, sfd, EPOLLIN, on_signal, vm)) {
		kb_log("cannot watch signals: %s", strerror(errno));
		status = BHYVE_EXIT_ERROR;
	} else if (ctl_init(vm, err, sizeof(err)) < 0) { /* before devices claim host resources */
		if (err[0]) /* empty: the line that says why is out already */
			kb_log("%s", err);
		status = BHYVE_EXIT_ERROR;
	} else if (machine_setup(vm, err, sizeof(err)) < 0) {
		if (err[0]) /* empty: the line that says why is out already */
			kb_log("%s", err);
		status = BHYVE_EXIT_ERROR;
	} else if (checkpoint_init(vm, err, sizeof(err)) < 0) {
		kb_log("%s", err);
		status = BHYVE_EXIT_ERROR;
	} else if (restore && checkpoint_restore(vm, restore, err, sizeof(err)) < 0) {
		kb_log("%s", err); /* -r: the snapshot does not fit this VM; it never ran */
		status = BHYVE_EXIT_ERROR;
	} else if (incoming && migrate_receive(vm, incoming, err, sizeof(err)) < 0) {
		kb_log("%s", err); /* -R: nothing arrived that runs; this VM never ran */
		status = BHYVE_EXIT_ERROR;
	} else if (enter_sandbox(cfg) < 0) {
		status = BHYVE_EXIT_ERROR;
	} else {
		status = vm_run(vm);
	}
	vm_destroy(vm);
	if (sfd >= 0)
		close(sfd);
	return status;
}

int main(int argc, char **argv)
{
	kb_log_set_prog("bhyve");
	/* Parse a copy: the originals are overwritten by the process title. */
	char **args = calloc((size_t)argc + 1, sizeof(char *));
	struct cfgnode *cfg = config_new();
	if (!args || !cfg) {
		kb_log("out of memory");
		return BHYVE_EXIT_ERROR;
	}
	for (int i = 0; i < argc; i++)
		args[i] = strdup(argv[i]);
	int status = run(argc, argv, args, cfg);
	config_free(cfg);
	free_args(args, argc);
	return status;
}
