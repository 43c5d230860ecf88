#!/usr/bin/env bash
# tests/run.sh - THE test command of deployer:  bash tests/run.sh [pytest args...]
#
# On a fresh Debian 12 machine it first installs what the tests need, then runs
# `python -m pytest` with the arguments given (e.g. -k inventory, -m "not fleet").
# Idempotent and quick when everything is there; needs no tty.
#   - Debian packages (apt-get, as root or through passwordless sudo): the test
#     fleet's sshd, ip/tc, sudo, zstd. Without root and without them the fleet
#     tests are skipped with the reason.
#   - Debian's daemonless `systemctl`, downloaded into a cache for the fleet's
#     "systemd" hosts (never installed: it conflicts with systemd).
#   - this project, editable, with its `test` extra. Into $PYTHON if set, else
#     the active virtualenv, else python3 - unless that is Debian's
#     externally-managed system Python: then a venv at $DEPLOYER_TEST_VENV
#     (default ~/.cache/deployer-tests/venv).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

say() { echo "tests/run.sh: $*" >&2; }

as_root() { # run as root: directly, or via passwordless sudo; false if neither
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1; fi
}

# --- Debian packages ------------------------------------------------------------
# chromium renders the fleet report in a test (headless); docker.io and busybox-static
# give the Open WebUI tests a real Docker engine and a small local image
DEBS=(openssh-server openssh-client iproute2 sudo zstd python3 python3-venv chromium docker.io busybox-static)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  if ! { as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
         { as_root apt-get update -q >&2 && as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }; }; then
    say "could not install ${missing[*]} (not root?); tests that need them will be skipped"
  fi
fi
if [ "$(id -u)" = 0 ] && ! bash tests/fleet/fleet.sh systemctl-cache >/dev/null; then
  say "no daemonless systemctl in the cache; fleet tests will say why they cannot run"
fi

# --- Python -----------------------------------------------------------------------
externally_managed() { # python -> true if pip must not install into it (PEP 668)
  "$1" -c 'import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) and sys.prefix == sys.base_prefix else 1)'
}
if [ -n "${PYTHON:-}" ]; then :
elif [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON=$VIRTUAL_ENV/bin/python
else
  PYTHON=python3
  if externally_managed "$PYTHON"; then
    venv=${DEPLOYER_TEST_VENV:-$HOME/.cache/deployer-tests/venv}
    [ -x "$venv/bin/python" ] || { say "creating $venv"; python3 -m venv "$venv"; }
    PYTHON=$venv/bin/python
  fi
fi

# reinstall when setup.cfg/setup.py changed, or deployer is not this checkout's
stamp_dir=${XDG_CACHE_HOME:-$HOME/.cache}/deployer-tests
stamp=$stamp_dir/$(printf '%s\n%s\n' "$ROOT" "$(command -v "$PYTHON")" | sha256sum | cut -c1-16).stamp
want=$(cat setup.cfg setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] ||
   ! "$PYTHON" -c 'import sys, deployer, pytest; sys.exit(0 if deployer.__file__.startswith(sys.argv[1] + "/") else 1)' "$ROOT" 2>/dev/null; then
  say "pip install -e '.[test]' into $PYTHON"
  "$PYTHON" -m pip install -q -e '.[test]' >&2
  mkdir -p "$stamp_dir"; echo "$want" > "$stamp"
fi

exec "$PYTHON" -m pytest "$@"
