#!/usr/bin/env bash
# The demo: generate the course of this repository's own source tree on the embedded defaults (a
# SQLite file in the user data directory, the offline generator), then show the job it recorded.
set -euo pipefail
fondation=${1:-fondation}
repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/course-fondation"

echo "==> configuration (secrets masked)"
"$fondation" config show
echo
echo "==> database"
"$fondation" db migrate
echo
echo "==> code map of this repository ($repo)"
"$fondation" map "$repo"
echo
echo "==> generating its course (offline generator, no LLM), as a markdown folder and a static site"
"$fondation" generate "$repo" --out "$out" --format md,html
echo
echo "==> the job the generation recorded, and the stored course"
"$fondation" jobs list --limit 3
"$fondation" courses list --limit 3
echo
echo "Open $out/index.md (markdown) or $out/site/index.html (in a browser)."
echo "To queue generations for a worker instead: '$fondation submit SOURCE' then '$fondation worker'."
echo "For the web app (submit, watch jobs live, read courses) with a worker: '$fondation up', then open the"
echo "one-time login link it prints (http://127.0.0.1:8000)."
