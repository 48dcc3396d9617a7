#!/usr/bin/env bash
# Fetch the browser assets Fondation ships (mermaid, htmx) from the npm registry at the versions pinned in
# package-lock.json and copy their single-file builds into src/fondation/render/vendor/, which is not committed.
# Idempotent and quick when up to date: npm runs only when node_modules is missing or the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

vendor=src/fondation/render/vendor
stamp=node_modules/.fondation-package.sha256
files=(
  "node_modules/mermaid/dist/mermaid.min.js"
  "node_modules/htmx.org/dist/htmx.min.js"
  "node_modules/htmx-ext-sse/dist/sse.min.js"
)

want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "fetch-assets: npm is missing; install Node.js >= 20.19 with npm, then run 'make assets' again" >&2
    exit 1
  fi
  echo "fetch-assets: installing the npm packages pinned in package-lock.json"
  # `npm ci` installs exactly the lock file's tree, each package checked against its integrity hash. The
  # lock file carries no "resolved" URLs (written with --omit-lockfile-registry-resolved), so it names no
  # registry host: npm fetches from whichever registry is configured here.
  # --loglevel=error hides mermaid 12's engines notice (it asks for node >= 22.12): only its browser build
  # and its parser are used, and tests/test_render_mermaid_real.py proves the parser on the node at hand.
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

mkdir -p "$vendor"
for src in "${files[@]}"; do
  if [ ! -f "$src" ]; then
    echo "fetch-assets: $src is missing after npm install; remove node_modules and run 'make assets' again" >&2
    exit 1
  fi
  dest="$vendor/$(basename "$src")"
  cmp -s "$src" "$dest" || cp "$src" "$dest"
done
