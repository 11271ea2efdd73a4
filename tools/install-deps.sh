#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Installs the Debian packages kbhyve needs to build, test and run its demo (as root).
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends $(grep -v '^#' .ci/packages)
