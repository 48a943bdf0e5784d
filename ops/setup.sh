#!/usr/bin/env bash
# Set-up for a fresh machine; safe to re-run (each step skips work already done).
# System packages (Redis, OpenBLAS) -> .venv with the project -> secrets -> .env link -> model.
# Every runtime input beyond Redis (and OpenBLAS on Linux) comes from PyPI or the project itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
APT_PACKAGES="redis-server libopenblas0-pthread unzip chromium"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

install_system_packages() {
  if [ "$(uname -s)" = "Darwin" ]; then
    command -v brew >/dev/null || { echo "Install Homebrew (https://brew.sh), then re-run." >&2; exit 1; }
    say "brew install redis"
    brew list redis >/dev/null 2>&1 || brew install redis
  elif command -v apt-get >/dev/null; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    say "apt-get install $APT_PACKAGES"
    # always ask apt: a binary lingering on this machine must not hide a missing install step
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $APT_PACKAGES >/dev/null 2>&1; then
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $APT_PACKAGES >/dev/null
    fi
  else
    echo "No apt-get or brew here: install redis-server (>= 6) and OpenBLAS yourself, then re-run." >&2
    command -v redis-server >/dev/null || exit 1
  fi
}

install_python_packages() {
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
  local stamp="$VENV/.installed-$(cksum < pyproject.toml | cut -d" " -f1)"  # cksum: macOS has it too
  if [ ! -f "$stamp" ]; then
    say "installing Python dependencies into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
    "$VENV/bin/python" -m pip install -q -e '.[test]'
    rm -f "$VENV"/.installed-* && touch "$stamp"
  fi
}

make_secrets() {
  if [ ! -f .secrets.env ]; then
    say "generating .secrets.env (Redis password, internal token)"
    umask 077
    "$VENV/bin/python" - <<'PY' > .secrets.env
import secrets
print(f"REDIS_PASSWORD={secrets.token_urlsafe(24)}")
print(f"INTERNAL_TOKEN={secrets.token_urlsafe(24)}")
PY
  fi
  # plain `honcho start` reads .env; keep it the same file as honcho.env
  [ -e .env ] || ln -s honcho.env .env
}

# llama.cpp serves generation on plain CPUs; PyPI ships only its source, so the wheel is built once
# per machine (about 6 minutes on 2 cores) into a cache outside the repo and installed from there.
LLAMA_CPP_VERSION=0.3.36
WHEEL_CACHE=${MDE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mde-wheels}
# native: AVX-512/AVX2 kernels for this CPU (so the cache is per machine); OpenMP threads; no
# tools, tests, server or multimodal library (the service needs libllama and ggml only)
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_OPENMP=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF \
-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
-DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF"

install_llama_cpp() {
  [ "$(uname -s)" = "Linux" ] || return 0  # macOS serves with MLX
  if "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_VERSION')" 2>/dev/null; then
    return 0
  fi
  local key cache
  key=$( (echo "$LLAMA_CMAKE_ARGS"; "$VENV/bin/python" -V; grep -m1 -o 'model name.*' /proc/cpuinfo || true; \
          grep -m1 -o '^flags.*' /proc/cpuinfo || true) | sha256sum | cut -c1-12)
  cache="$WHEEL_CACHE/llama-cpp-python-$LLAMA_CPP_VERSION-$key"
  if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_CPP_VERSION for this CPU (once per machine, ~6 minutes)"
    mkdir -p "$cache.tmp"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=2 "$VENV/bin/python" -m pip wheel -q \
      --no-deps --no-binary llama-cpp-python -w "$cache.tmp" "llama-cpp-python==$LLAMA_CPP_VERSION"
    rm -rf "$cache" && mv "$cache.tmp" "$cache"
  fi
  say "installing llama-cpp-python from $cache"
  # the cached wheel beats PyPI's source of the same version; its small dependencies come from PyPI
  "$VENV/bin/python" -m pip install -q --find-links "$cache" "llama-cpp-python==$LLAMA_CPP_VERSION"
}

prepare_model() {
  say "preparing the generation model (skipped when present)"
  "$VENV/bin/python" -m ops.prepare_model
}

# tests source this file to run one step on a simulated platform
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

install_system_packages
install_python_packages
install_llama_cpp
make_secrets
prepare_model
say "done: run 'make run' (or .venv/bin/honcho -e honcho.env start)"
