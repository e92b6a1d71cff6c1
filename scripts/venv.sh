#!/usr/bin/env bash
# Prints the path of a virtualenv for this clone's uv.lock, creating it when missing.
# It lives outside the clone, keyed by the lockfile hash: torch from PyPI is the multi-GB CUDA
# build, so it is downloaded once per lockfile, not once per clone or CI run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${FRESHREC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/freshrec}"
key="$(sha256sum "$root/uv.lock" | cut -c1-16)"
venv="$cache/venv-$key"
# `pip install --user` puts uv in the user base's bin (~/.local/bin), which is often not on PATH:
# look there before installing, or every make target installs it again.
if ! command -v uv >/dev/null 2>&1; then
  user_base="$(python3 -m site --user-base 2>/dev/null || true)"
  export PATH="${user_base:+$user_base/bin:}$HOME/.local/bin:$PATH"
fi
if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv (lockfile-driven installs)" >&2
  python3 -m pip install --quiet --user "uv>=0.5" >&2 || python3 -m pip install --quiet "uv>=0.5" >&2
fi
uv="$(command -v uv)"
if [ ! -f "$venv/.complete" ]; then
  echo "creating $venv from uv.lock (first run downloads torch, a few GB)" >&2
  mkdir -p "$cache"
  UV_PROJECT_ENVIRONMENT="$venv" "$uv" sync --project "$root" --frozen --extra dev --no-install-project --python 3.11 >&2
  touch "$venv/.complete"
fi
# The venv is shared by every clone: point its editable install at this one (a second, no downloads).
if [ "$(cat "$venv/.project-root" 2>/dev/null)" != "$root" ]; then
  "$uv" pip install --quiet --python "$venv/bin/python" --no-deps -e "$root" >&2
  echo "$root" > "$venv/.project-root"
fi
echo "$venv"
