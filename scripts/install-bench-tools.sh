#!/usr/bin/env bash
# Installs what `harness bench` runs when it is missing: nginx (the origin),
# wrk (the load generator), tinyproxy and squid (the peers), from Debian's
# packages. Safe to run again. `harness bench --install` runs this script.
#
# The packages' post-install scripts would start tinyproxy, squid and nginx
# as system services listening on every interface. A temporary
# policy-rc.d forbids that (the bench starts its own copies on loopback with
# its own config files), and any daemon that got started anyway is stopped.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

# command -> package
declare -A wanted=(
    [nginx]=nginx
    [wrk]=wrk
    [tinyproxy]=tinyproxy
    [squid]=squid
)

missing=()
for cmd in "${!wanted[@]}"; do
    # nginx, tinyproxy and squid live in /usr/sbin, which a user's PATH may lack.
    if ! have "$cmd" && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ]; then
        missing+=("${wanted[$cmd]}")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "bench tools: all present (nginx, wrk, tinyproxy, squid)"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    made_policy=1
fi
cleanup() {
    if [ "$made_policy" -eq 1 ]; then $sudo rm -f "$policy"; fi
}
trap cleanup EXIT

echo "bench tools: installing ${missing[*]}"
$sudo apt-get update -qq || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Belt and braces: stop a system daemon a package may have started anyway.
for svc in tinyproxy squid nginx; do
    if have service; then $sudo service "$svc" stop >/dev/null 2>&1 || true; fi
done

echo "bench tools: installed ${missing[*]}"
