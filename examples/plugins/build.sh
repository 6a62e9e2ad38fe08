#!/usr/bin/env bash
# Builds every plugin of this folder into examples/plugins/dist/*.wasm.
#
# Idempotent: installs what it needs when missing and skips a Python or JavaScript plugin whose
# output is newer than its sources. Needs rustup and cargo (crates.io), python3 with pip (PyPI)
# and node with npm (the npm registry).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
wit="$repo/wit/v0.1.0"
dist="$here/dist"
componentize_py_version="0.25.1"
mkdir -p "$dist"

# True when $1 exists and is newer than every other argument (files or folders, searched deeply).
fresh() {
    local out="$1"
    shift
    [[ -f "$out" ]] || return 1
    [[ -z "$(find "$@" -newer "$out" -not -path '*/node_modules/*' -not -path '*/__pycache__/*' -print -quit)" ]]
}

echo "==> Rust plugins (wasm32-wasip2)"
(cd "$repo" && rustup target add wasm32-wasip2 >/dev/null)
(cd "$here" && cargo build --release --locked --target wasm32-wasip2 --workspace --target-dir "$here/target")
for wasm in "$here"/target/wasm32-wasip2/release/*.wasm; do
    name="$(basename "$wasm" .wasm)"
    cp -p "$wasm" "$dist/${name//_/-}.wasm"
done

echo "==> Python plugin (componentize-py $componentize_py_version)"
if ! componentize-py --version 2>/dev/null | grep -qx "componentize-py $componentize_py_version"; then
    python3 -m pip install --quiet --disable-pip-version-check "componentize-py==$componentize_py_version"
fi
python_out="$dist/python-validator.wasm"
if fresh "$python_out" "$here/python/blocked-usernames" "$wit"; then
    echo "    up to date: $python_out"
else
    (cd "$here/python/blocked-usernames" &&
        componentize-py -d "$wit" -w validator componentize app -o "$python_out")
fi

echo "==> JavaScript plugin (componentize-js, version pinned in package-lock.json)"
js="$here/js/profile-names"
js_out="$dist/js-validator.wasm"
if [[ ! -d "$js/node_modules" ]] || ! fresh "$js/node_modules/.package-lock.json" "$js/package-lock.json"; then
    (cd "$js" && npm ci --no-audit --no-fund)
fi
if fresh "$js_out" "$js/app.js" "$js/package-lock.json" "$wit"; then
    echo "    up to date: $js_out"
else
    (cd "$js" && npm run --silent build)
fi

echo "==> built:"
ls -l "$dist"
