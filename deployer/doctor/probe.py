"""Doctor's probe: the facts probe and a few extra sections, in one command (one round trip).

The extra sections use the facts probe's markers, so one split gives both:

- ``doctor-listen``: listening TCP sockets (``ss``, else /proc/net/tcp), and the
  command line of whoever listens on the ports asked about (when visible);
- ``doctor-sudo``: root, or what ``sudo -n true`` says (no password is sent here);
- ``doctor-reach``: for each URL, whether the host reaches it (curl or wget,
  a few seconds each, through the proxy given or the login environment's);
- ``doctor-docker``: ``docker info`` against each DOCKER_HOST a play names.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Sequence

from deployer.connection import CommandTimeout, Connection
from deployer.facts.model import HostFacts
from deployer.facts.parse import build_facts, split_sections
from deployer.facts.probe import PROBE_TIMEOUT, gather, probe_command

EXTRAS = r"""exec </dev/null
LC_ALL=C
export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ports= urls= dhosts= proxy=
while [ "$#" -gt 0 ]; do
    case "$1" in
        --port) ports="$ports $2"; shift 2 ;;
        --url) urls="$urls $2"; shift 2 ;;
        --proxy) proxy=$2; shift 2 ;;
        --docker-host) dhosts="$dhosts $2"; shift 2 ;;
        *) shift ;;
    esac
done
_have() { command -v "$1" >/dev/null 2>&1; }
_begin() { printf '\n@@deployer-facts:begin:%s@@\n' "$1"; }
_end() { printf '\n@@deployer-facts:end:%s:0@@\n' "$1"; }
_line() { tr '\n' ' ' | cut -c1-300; }

_begin doctor-listen
if _have ss; then
    ss -ltnpH 2>/dev/null || ss -ltn 2>/dev/null
    for p in $ports; do
        for pid in $(ss -ltnpH "sport = :$p" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
            printf '@pid %s %s %s\n' "$p" "$pid" "$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)"
        done
    done
else
    echo "@proc"
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null
fi
_end doctor-listen

_begin doctor-sudo
if [ "$(id -u)" = 0 ]; then
    echo "state=root"
elif _have sudo; then
    out=$(sudo -n true 2>&1)
    echo "state=rc$?"
    printf 'text=%s\n' "$(printf '%s' "$out" | _line)"
else
    echo "state=none"
fi
echo "groups=$(id -Gn 2>/dev/null)"
_end doctor-sudo

_begin doctor-reach
for u in $urls; do
    if _have curl; then
        if [ -n "$proxy" ]; then r=$(curl -sS -o /dev/null --connect-timeout 4 -m 8 -x "$proxy" -w '%{http_code}' "$u" 2>&1)
        else r=$(curl -sS -o /dev/null --connect-timeout 4 -m 8 -w '%{http_code}' "$u" 2>&1); fi
        rc=$?
    elif _have wget; then
        if [ -n "$proxy" ]; then r=$(https_proxy=$proxy wget -q -S --spider -T 6 -t 1 "$u" 2>&1 | grep -m 1 'HTTP/')
        else r=$(wget -q -S --spider -T 6 -t 1 "$u" 2>&1 | grep -m 1 'HTTP/'); fi
        rc=0
        [ -n "$r" ] || { rc=4; r="wget: no answer"; }
    else
        rc=127 r="neither curl nor wget to test with"
    fi
    printf '%s\t%s\t%s\n' "$u" "$rc" "$(printf '%s' "$r" | _line)"
done
_end doctor-reach

_begin doctor-docker
for h in $dhosts; do
    r=$(DOCKER_HOST=$h docker info --format '{{.ServerVersion}}' 2>&1)
    printf '%s\t%s\t%s\n' "$h" "$?" "$(printf '%s' "$r" | _line)"
done
_end doctor-docker
"""


@dataclass
class Extras:
    """What the extra sections found."""

    listening: dict[int, list[str]] = field(default_factory=dict)  # port -> who listens ("" when not visible)
    ports_known: bool = True  # False: neither ss nor /proc/net/tcp could be read
    sudo: str = "unknown"  # root | ok | refused | none | unknown
    sudo_text: str = ""
    groups: list[str] = field(default_factory=list)
    reach: dict[str, tuple[bool | None, str]] = field(default_factory=dict)  # url -> (reached, detail); None: could not test
    docker: dict[str, tuple[bool, str]] = field(default_factory=dict)


def extras_command(ports: Sequence[int], urls: Sequence[str], proxy: str | None, docker_hosts: Sequence[str]) -> str:
    args = [a for p in ports for a in ("--port", str(p))] + [a for u in urls for a in ("--url", u)]
    args += ["--proxy", proxy] if proxy else []
    args += [a for h in docker_hosts for a in ("--docker-host", h)]
    return "/bin/sh -c " + shlex.quote(EXTRAS) + " doctor-probe " + " ".join(shlex.quote(a) for a in args)


def run(conn: Connection, paths: Sequence[str], ports: Sequence[int], urls: Sequence[str], proxy: str | None,
        docker_hosts: Sequence[str]) -> tuple[HostFacts, Extras]:
    """Facts and extras of the host behind `conn`: one command over SSH (on this machine, two)."""
    extras = extras_command(ports, urls, proxy, docker_hosts)
    if conn.is_local:
        facts = gather(conn, paths)  # psutil fills what the probe leaves to it here
        return facts, parse_extras(split_sections(conn.run(extras, timeout=120).stdout))
    timeout = PROBE_TIMEOUT + 30 + 10 * len(urls)
    try:
        output = conn.run(probe_command(paths) + "\n" + extras, timeout=timeout).stdout
    except CommandTimeout as exc:
        output = exc.partial.stdout if exc.partial else ""
    sections = split_sections(output)
    facts = build_facts(sections)
    if facts.hostname == "unknown":
        facts.hostname = conn.name
    from deployer.llm.hardware import enrich

    return enrich(facts), parse_extras(sections)


_ADDR = re.compile(r"^(?P<addr>\S*):(?P<port>\d+)$")


def parse_extras(sections: dict[str, str]) -> Extras:
    """Extras from the split probe output (missing sections leave defaults)."""
    ex = Extras()
    _listen(ex, sections.get("doctor-listen"))
    for line in (sections.get("doctor-sudo") or "").splitlines():
        key, _, value = line.partition("=")
        if key == "state":
            ex.sudo = {"root": "root", "none": "none", "rc0": "ok"}.get(value, "refused" if value.startswith("rc") else "unknown")
        elif key == "text":
            ex.sudo_text = value.strip()
        elif key == "groups":
            ex.groups = value.split()
    for line in (sections.get("doctor-reach") or "").splitlines():
        url, rc, detail = (line.split("\t") + ["", ""])[:3]
        if url:
            ex.reach[url] = (None if rc == "127" else rc == "0", detail.strip())
    for line in (sections.get("doctor-docker") or "").splitlines():
        host, rc, detail = (line.split("\t") + ["", ""])[:3]
        if host:
            ex.docker[host] = (rc == "0", detail.strip())
    return ex


def _listen(ex: Extras, text: str | None) -> None:
    if text is None:
        ex.ports_known = False
        return
    lines = text.splitlines()
    if lines and lines[0].strip() == "@proc":
        _proc_net(ex, lines[1:])
        return
    cmdlines: dict[tuple[int, str], str] = {}
    found: list[tuple[int, str, str]] = []  # (port, process name, pid)
    for line in lines:
        if line.startswith("@pid "):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1].isdigit():
                cmdlines[(int(parts[1]), parts[2])] = (parts[3] if len(parts) > 3 else "").strip()
            continue
        cols = line.split()
        m = _ADDR.match(cols[3]) if len(cols) >= 4 and cols[0] == "LISTEN" else None
        if m:
            pid = re.search(r"pid=(\d+)", line)
            name = re.search(r'\("([^"]+)"', line)
            found.append((int(m.group("port")), name.group(1) if name else "", pid.group(1) if pid else ""))
    for port, name, pid in found:
        what = cmdlines.get((port, pid)) or name
        desc = f"{what} (pid {pid})" if what and pid else ""
        if desc not in ex.listening.setdefault(port, []):
            ex.listening[port].append(desc)


def _proc_net(ex: Extras, lines: list[str]) -> None:
    for line in lines:
        cols = line.split()
        if len(cols) > 3 and cols[3] == "0A" and ":" in cols[1]:  # 0A: LISTEN
            ex.listening.setdefault(int(cols[1].rsplit(":", 1)[1], 16), []).append("")
    if not lines:
        ex.ports_known = False
