#!/usr/bin/env bash
# The demo: queue a course generation for this repository's own source tree on the embedded
# defaults (a SQLite file in the user data directory) and show the queue.
set -euo pipefail
fondation=${1:-fondation}
repo=$(cd "$(dirname "$0")/.." && pwd)

echo "==> configuration (secrets masked)"
"$fondation" config show
echo
echo "==> database"
"$fondation" db migrate
echo
echo "==> submitting this repository ($repo)"
"$fondation" submit "$repo"
echo "==> submitting it again: the active job is reused, not duplicated"
"$fondation" submit "$repo"
job=$("$fondation" jobs list --limit 1 --json | "$(dirname "$fondation")/python" -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
echo
echo "==> the queue"
"$fondation" jobs list --limit 10
echo
echo "==> job $job"
"$fondation" jobs show "$job"
"$fondation" jobs events "$job"
echo
echo "The job waits for a worker: run '.venv/bin/fondation worker' to see one claim it (with health on"
echo "http://127.0.0.1:8080/health). This build has no course generator yet, so the worker ends the job"
echo "as dead with that reason; the generator release turns this demo into a real course generation."
