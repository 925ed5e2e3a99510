#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine:
# the real SIP software the integration tests drive, npm packages, and the
# native media addon. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] || need_apt+=(kamailio)
command -v rtpengine >/dev/null 2>&1 || [ -x /usr/bin/rtpengine ] || need_apt+=(rtpengine-daemon)
command -v baresip >/dev/null 2>&1 || need_apt+=(baresip-core)
command -v sipsak >/dev/null 2>&1 || need_apt+=(sipsak)
command -v svmap >/dev/null 2>&1 || need_apt+=(sipvicious)
command -v sslscan >/dev/null 2>&1 || need_apt+=(sslscan)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
# The web console's end-to-end test drives Debian's browser through playwright-core (no browser download).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-test-deps: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install-test-deps: npm ci"
  npm ci --no-audit --no-fund
fi

if [ ! -f native/build/Release/media_relay.node ] || [ -n "$(find native/src native/binding.gyp -newer native/build/Release/media_relay.node 2>/dev/null | head -n 1)" ]; then
  echo "install-test-deps: building the native media addon"
  npm run build:native
fi
