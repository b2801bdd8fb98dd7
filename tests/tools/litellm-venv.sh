#!/usr/bin/env bash
# Makes .venv-litellm: LiteLLM's proxy in a venv of its own, for the integration tests
# (tests/integration/litellm_fixture.py). Its ~750 MB of dependencies must not meet ailoop's.
#
# The venv itself lives in the user's cache, keyed by the requirements and the Python
# version, and .venv-litellm links to it: a second run, or a fresh clone on the same machine
# (CI), installs nothing. pip's output goes to a log whose path is printed on failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
requirements=$root/tests/tools/litellm-requirements.txt
key=$({ cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } \
      | sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ailoop/venv-litellm-$key
link=$root/.venv-litellm

mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9  # two clones installing at once wait for each other
if [ ! -f "$cache/.installed" ]; then
  log=${TMPDIR:-/tmp}/ailoop-litellm-venv.log
  echo "litellm-venv: installing LiteLLM's proxy into $cache (log: $log)"
  started=$(date +%s)
  rm -rf "$cache"
  if ! { "$python" -m venv "$cache" \
         && "$cache/bin/python" -m pip install --quiet --upgrade pip \
         && "$cache/bin/python" -m pip install --quiet -r "$requirements"; } >"$log" 2>&1; then
    echo "litellm-venv: install failed; see $log" >&2
    exit 1
  fi
  touch "$cache/.installed"
  echo "litellm-venv: installed in $(( $(date +%s) - started )) s ($(du -sh "$cache" | cut -f1))"
fi
if [ "$(readlink "$link" 2>/dev/null)" != "$cache" ]; then
  rm -rf "$link"
  ln -s "$cache" "$link"
fi
