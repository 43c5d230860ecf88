#!/usr/bin/env bash
# benchmarks/run.sh - deployer against Ansible and pyinfra, from a fresh clone:
#   bash benchmarks/run.sh [--quick | rollout|bulk|relay [options]]
# Needs root (the hosts are real sshd's in network namespaces, see tests/fleet).
# deployer runs from this checkout with a Python that has its dependencies
# ($PYTHON, else python3 when it has them, else a venv made for it);
# ansible-core and pyinfra come from PyPI into their own venv
# (~/.cache/deployer-bench/venv), never into the project's environment.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
[ "$(id -u)" = 0 ] || { echo "benchmarks/run.sh: needs root (network namespaces for the hosts)" >&2; exit 2; }
for tool in sshd ip tc; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { apt-get install -y -q --no-install-recommends openssh-server openssh-client iproute2 >&2; break; }
done
# the "systemd" hosts' daemonless systemctl (downloaded once into a cache, never installed)
bash tests/fleet/fleet.sh systemctl-cache >/dev/null ||
  { apt-get update -q >&2 && bash tests/fleet/fleet.sh systemctl-cache >/dev/null; }
deps='import paramiko, fabric, pydantic, yaml, jinja2, click, rich, psutil'
PY=${PYTHON:-python3}
if ! "$PY" -c "$deps" 2>/dev/null; then
  venv=${DEPLOYER_BENCH_PROJECT_VENV:-$HOME/.cache/deployer-bench/project-venv}
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c "$deps" 2>/dev/null || "$venv/bin/python" -m pip install -q -e . >&2
  PY=$venv/bin/python
fi
exec "$PY" benchmarks/run.py "$@"
