#!/usr/bin/env bash
# Gradescope runs this once, as root, on its Ubuntu image, when it builds
# the autograder: it installs make and a C compiler for the students'
# proxies, and the `harness` that grades them.
#
# Put next to this file, in the autograder's zip, either
#   harness          a prebuilt binary (`cargo build --release -p harness`,
#                    on the same Ubuntu release as the image, or for
#                    x86_64-unknown-linux-musl), or
#   proxy-lab-rust/  this repository, built here with rustup's cargo.
set -euo pipefail

root=${AUTOGRADER_ROOT:-/autograder}
source_dir=$root/source

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends build-essential make ca-certificates curl

if [ -f "$source_dir/harness" ]; then
    install -m 0755 "$source_dir/harness" /usr/local/bin/harness
elif [ -d "$source_dir/proxy-lab-rust" ]; then
    if ! command -v cargo >/dev/null 2>&1; then
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    cargo install --locked --path "$source_dir/proxy-lab-rust/harness" --root /usr/local
else
    echo "setup.sh: put a prebuilt harness, or the repository as proxy-lab-rust/, next to setup.sh" >&2
    exit 1
fi
chmod +x "$source_dir/run_autograder"
harness --version
