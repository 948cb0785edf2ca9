#!/usr/bin/env bash
# Debian's Chromium for the web console's browser tests (tests/browser): Playwright
# drives this system browser, it never downloads one of its own. Idempotent: a machine
# that has /usr/bin/chromium is left as it is.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt run on the machine holds the lock for a while: wait for it, do not fail.
# apt's sandbox user may not write a private /tmp: fetch the lists as root.
$sudo apt-get -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
