"""wait_for: wait until a port is open or closed, or a file appears (with some
text) or disappears, as seen from the host, as ansible.builtin.wait_for.

Read-only: the whole wait is one shell loop on the host with a deadline (one
round trip, not one per poll). Ports are tried with bash's /dev/tcp, else
python3, else (for the host's own listening sockets) /proc/net/tcp: no nc needed.
"""

from __future__ import annotations

import shlex
from typing import Literal

from pydantic import Field, model_validator

from deployer.errors import ModuleFailure
from deployer.modules import register
from deployer.modules.base import Change, Module, ModuleArgs, TaskContext

#: shell functions: port_open HOST PORT CONNECT_TIMEOUT -> 0 when something accepts
_PORT_FUNCS = r"""
if command -v timeout >/dev/null 2>&1; then to="timeout $ct"; else to=""; fi
if command -v bash >/dev/null 2>&1; then
  port_open() { $to bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }
elif command -v python3 >/dev/null 2>&1; then
  port_open() { python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[3])).close()' "$1" "$2" "$ct" 2>/dev/null; }
elif [ -r /proc/net/tcp ]; then
  case "$host" in 127.*|localhost|0.0.0.0|::1|::) ;; *) echo "no bash or python3 to test $host:$port" >&2; exit 5 ;; esac
  port_open() {
    hex=$(printf ':%04X' "$2")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p {f = 1} END {exit !f}'
  }
else
  echo "no bash, python3 or /proc/net/tcp to test a port" >&2; exit 5
fi
"""

_LOOP = r"""
start=$(date +%s); deadline=$((start + timeout))
[ "$delay" -gt 0 ] && sleep "$delay"
while :; do
  if condition; then echo "elapsed=$(( $(date +%s) - start ))"; exit 0; fi
  [ "$(date +%s)" -ge "$deadline" ] && { echo "elapsed=$(( $(date +%s) - start ))"; exit 3; }
  sleep "$pause"
done
"""


class WaitForArgs(ModuleArgs):
    host: str = Field("127.0.0.1", description="Host whose port to test, as seen from the target host.")
    port: int | None = Field(None, ge=1, le=65535, description="TCP port to wait for.")
    path: str | None = Field(None, description="File on the target host to wait for.")
    state: Literal["started", "stopped", "present", "absent"] = Field(
        "started",
        description="Port: started (open) or stopped (closed). Path: present (exists) or absent; "
        "for a path started means present and stopped means absent.",
    )
    search_regex: str | None = Field(None, description="With path: wait until the file contains a match of this (grep -E) regex.")
    timeout: int = Field(300, ge=0, description="Seconds to wait at most (without port and path: just sleep this long).")
    delay: int = Field(0, ge=0, description="Seconds to wait before the first test.")
    sleep: float = Field(1, gt=0, description="Seconds between tests.")
    connect_timeout: int = Field(5, ge=1, description="Seconds one connection attempt may take.")
    msg: str | None = Field(None, description="Message of the failure on timeout, instead of the default one.")

    @model_validator(mode="after")
    def _combination(self) -> "WaitForArgs":
        if self.port is not None and self.path is not None:
            raise ValueError("give 'port' or 'path', not both")
        if self.search_regex is not None and self.path is None:
            raise ValueError("'search_regex' works with 'path' only")
        if self.port is not None and self.state in ("present", "absent"):
            raise ValueError(f"state {self.state} is for 'path': a port is started or stopped")
        return self


def _what(args: WaitForArgs) -> str:
    if args.port is not None:
        return f"port {args.port} on {args.host} to be {'open' if args.state == 'started' else 'closed'}"
    if args.path is not None:
        if args.state in ("absent", "stopped"):
            return f"{args.path} to be absent"
        return f"{args.path} to contain /{args.search_regex}/" if args.search_regex else f"{args.path} to exist"
    return f"{args.timeout}s to pass"


def _condition(args: WaitForArgs) -> str:
    if args.port is not None:
        test = f"port_open {shlex.quote(args.host)} {args.port}"
        return _PORT_FUNCS + f"condition() {{ {'' if args.state == 'started' else '! '}{test}; }}"
    if args.path is None:
        return "condition() { false; }"
    p = shlex.quote(args.path)
    if args.state in ("absent", "stopped"):
        return f"condition() {{ [ ! -e {p} ]; }}"
    if args.search_regex:
        return f"condition() {{ [ -f {p} ] && grep -Eq -- {shlex.quote(args.search_regex)} {p}; }}"
    return f"condition() {{ [ -e {p} ]; }}"


@register
class WaitForModule(Module[WaitForArgs]):
    """Wait for a port or a file on (or as seen from) the host."""

    name = "wait_for"
    read_only = True
    Args = WaitForArgs

    def check(self, ctx: TaskContext, args: WaitForArgs) -> Change | None:
        what = _what(args)
        # under --check an earlier task that would start the service did not run: look once, do not wait
        quick = ctx.check_mode and ctx.earlier_changes_pending and (args.port is not None or args.path is not None)
        timeout, delay = (0, 0) if quick else (args.timeout, args.delay)
        script = (
            f"host={shlex.quote(args.host)}; port={args.port or 0}; ct={args.connect_timeout}; "
            f"timeout={timeout}; delay={delay}; pause={args.sleep:g}\n" + _condition(args) + _LOOP
        )
        res = ctx.probe(script, timeout=timeout + delay + args.connect_timeout + 30)
        elapsed = next((int(x[8:]) for x in res.stdout.split() if x.startswith("elapsed=")), None)
        info = {"elapsed": elapsed, "state": args.state} | ({"port": args.port} if args.port else {}) | ({"path": args.path} if args.path else {})
        if res.rc == 0 or (res.rc == 3 and args.port is None and args.path is None):
            ctx.report(**info)
            return None
        if res.rc == 3 and quick:
            ctx.report(msg=f"not ready yet ({what}); an earlier change would start it", **info)
            return None
        if res.rc == 3:
            raise ModuleFailure(args.msg or f"timed out after {args.timeout}s waiting for {what}", data=info)
        raise ModuleFailure(f"cannot wait for {what} on {ctx.host}: {res.tail(3) or f'exit {res.rc}'}")
