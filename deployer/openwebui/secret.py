"""WEBUI_SECRET_KEY: generated once per host, on the host, and never shown.

Open WebUI signs session tokens with WEBUI_SECRET_KEY. The image's start
script invents one inside the container when the variable is empty, so every
recreated container would log everybody out. deployer generates the key on
the host itself (32 random bytes from /dev/urandom, hex), in a file only its
owner can read, written in ``KEY=value`` form so that it is both a
``docker run --env-file`` and a file the pip mode's launcher sources. The key
never travels to the control machine: comparisons with a running container
are made on the host, by digest.
"""

from __future__ import annotations

from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext
from deployer.hostfiles import sh_path

VAR = "WEBUI_SECRET_KEY"


def present(ctx: TaskContext, path: str) -> bool:
    """Does the host have a usable key file at `path`? Read-only."""
    res = ctx.probe(f"grep -q '^{VAR}=.' {sh_path(path)} 2>/dev/null")
    return res.ok


def ensure(ctx: TaskContext, path: str) -> bool:
    """Create the key file when missing (mode 0600, its directory 0700); True when created."""
    script = f"""f={sh_path(path)}; umask 077
if grep -q '^{VAR}=.' "$f" 2>/dev/null; then chmod 600 "$f"; echo kept; exit 0; fi
mkdir -p "$(dirname "$f")" || exit 1
k=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')
[ ${{#k}} -eq 64 ] || {{ echo "cannot read 32 random bytes from /dev/urandom" >&2; exit 3; }}
t="$f.tmp.$$"; printf '{VAR}=%s\\n' "$k" > "$t" && chmod 600 "$t" && mv -f "$t" "$f" && echo created"""
    res = ctx.run(script)
    if not res.ok:
        raise ModuleFailure(f"cannot write the secret key file {path}: {res.tail(3)}", hint="set secret_file to a writable path, or become root")
    return "created" in res.stdout
