#!/usr/bin/env bash
# Installs the tools CI and the tests need when they are missing (curl,
# make and a C compiler for the fixture proxies and `harness class`, a
# Chromium for the browser test;
# actionlint is found or fetched by scripts/actionlint.sh). Safe to run again.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq || true
    $sudo apt-get install -y -qq --no-install-recommends "$@"
}

if ! have curl; then apt_install curl; fi
if ! have make; then apt_install make; fi
if ! have cc; then apt_install gcc libc6-dev; fi

# A browser for the real-client test: GitHub's runners have google-chrome;
# Debian's chromium package is installed elsewhere.
if ! have chromium && ! have chromium-browser && ! have google-chrome; then
    apt_install chromium
fi

echo "tools: $(curl --version | head -1 | cut -d' ' -f1-2), $(make --version | head -1), $(cc --version | head -1)"
