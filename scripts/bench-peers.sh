#!/usr/bin/env bash
# `make bench-peers`: Fondation's job queue side by side with procrastinate and pgqueuer, written to
# docs/BENCHMARKS-PEERS.md (see bench/peers/run.py for what is measured and how).
#
#   scripts/with-postgres.sh scripts/bench-peers.sh [bench.peers.run options, e.g. --jobs 2000 --repeats 1]
#
# The peers are never dependencies of Fondation: they go into a virtualenv of their own, outside the
# work tree, with Fondation installed in it from this checkout (editable, at requirements/constraints.txt)
# and bench/peers/requirements.txt beside it:
#
#   ${FONDATION_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/fondation/bench-peers-venv}
#
# A stamp in it makes a run whose inputs did not change skip the install. PostgreSQL is found in
# FONDATION_TEST_PG_URL (scripts/with-postgres.sh sets it).
set -euo pipefail

die() {
  echo "bench-peers: $*" >&2
  exit 1
}

cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=${FONDATION_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/fondation/bench-peers-venv}
requirements=bench/peers/requirements.txt
constraints=requirements/constraints.txt

"$python" -c 'import sys; sys.exit("bench-peers needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None' ||
  exit 1
[ -n "${FONDATION_TEST_PG_URL:-}" ] || die "FONDATION_TEST_PG_URL is not set: run me under scripts/with-postgres.sh"

stamp=$venv/.installed-bench-peers
inputs=$(cat pyproject.toml "$constraints" "$requirements" scripts/bench-peers.sh <(printf '%s\n' "$PWD") | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$inputs" ]; then
  echo "bench-peers: installing Fondation and the peers into $venv" >&2
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$constraints" -e . -r "$requirements"
  echo "$inputs" >"$stamp"
fi

exec "$venv/bin/python" -m bench.peers.run "$@"
