"""How Open WebUI reaches Ollama without exposing Ollama's API.

The trap: Ollama listens on 127.0.0.1 by default (its API has no
authentication). A container on docker's bridge network has its own
loopback, so ``OLLAMA_BASE_URL=http://127.0.0.1:11434`` and
``http://host.docker.internal:11434`` (the bridge gateway) both fail: nothing
listens there. The common fix, ``OLLAMA_HOST=0.0.0.0``, makes Ollama answer
on every interface - to the whole network, without a password.

What deployer does instead:

- Ollama on loopback (the default): the container joins the host's network
  (``--network=host``); 127.0.0.1 is then the host's loopback. ``-p`` does not
  apply on the host network, so the UI's own address and port go in
  ``HOST``/``PORT`` (the image's start script reads them): the UI still
  listens only where ``bind`` says.
- Ollama bound to one address (e.g. the docker0 gateway 172.17.0.1, reached
  by containers but not by other machines): bridge network, the URL names that
  address, the UI port is published with ``-p bind:port:8080``.
- Ollama on 0.0.0.0 (the ollama module warns about it): bridge network,
  ``http://host.docker.internal:<port>``.
- Several Ollama nodes behind one UI (``backends``): ``OLLAMA_BASE_URLS`` lists
  their inventory addresses; their Ollama must listen on an address the
  front-door host reaches. deployer checks that before starting the UI and
  refuses with the choices when it does not. With ``backend_reach: tunnel``
  their Ollama stays on loopback: the front door keeps SSH port forwards to
  them (deployer/openwebui/tunnels.py) and the URLs name its local ends
  (host network).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Literal, Mapping
from urllib.parse import urlsplit

from deployer.errors import ModuleFailure
from deployer.ollama.config import DEFAULT_ENDPOINT
from deployer.openwebui.config import OpenWebUIArgs
from deployer.openwebui.tunnels import Backend, backends

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ANY = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Wiring:
    """Where Open WebUI finds Ollama, and the network the container needs for it."""

    network: Literal["host", "bridge"]
    urls: tuple[str, ...]
    reason: str
    #: the URLs are other hosts (backends), not this host's Ollama
    remote: bool = False
    #: backend_reach: tunnel: the SSH port forwards the URLs go through
    tunnels: tuple[Backend, ...] = ()

    @property
    def env(self) -> dict[str, str]:
        if len(self.urls) == 1:
            return {"OLLAMA_BASE_URL": self.urls[0]}
        return {"OLLAMA_BASE_URLS": ";".join(self.urls)}


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.removeprefix("http://").rpartition(":")
    if not port.isdigit():
        raise ModuleFailure(f"ollama_listen {listen!r} is not host:port", hint="e.g. 127.0.0.1:11434")
    return host.strip("[]"), int(port)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def resolve(args: OpenWebUIArgs, variables: Mapping[str, Any]) -> Wiring:
    """The wiring for `args` on this host (`variables`: groups and hostvars, for backends)."""
    docker = args.mode == "docker"
    if args.backends and args.backend_reach == "tunnel":
        ends = backends(backend_hosts(args.backends, variables), args.tunnel_port, args.backend_port)
        return Wiring(
            "host", tuple(b.url for b in ends),
            f"{len(ends)} Ollama backend(s) through SSH tunnels from this host: OLLAMA_BASE_URLS", remote=True, tunnels=tuple(ends),
        )
    if args.backends:
        urls = tuple(f"http://{_bracket(a)}:{args.backend_port}" for a in backend_addresses(args.backends, variables))
        network = "bridge" if args.network == "auto" else args.network
        return Wiring(network, urls, f"{len(urls)} Ollama backend(s) on the network: OLLAMA_BASE_URLS", remote=True)
    if args.ollama_url:
        host = urlsplit(args.ollama_url).hostname or ""
        url = args.ollama_url.rstrip("/")
        if host in LOOPBACK:
            if docker and args.network == "bridge":
                raise ModuleFailure(
                    f"ollama_url {args.ollama_url} is the container's own loopback on the bridge network: Open WebUI could not reach Ollama",
                    hint="use network: host (or auto), or an address of the host that Ollama listens on",
                )
            return Wiring("host", (url,), "Ollama on loopback: the container shares the host's network")
        return Wiring("bridge" if args.network == "auto" else args.network, (url,), f"Ollama at {host}")
    host, port = _split_listen(args.ollama_listen or DEFAULT_ENDPOINT)
    if host in LOOPBACK:
        if docker and args.network == "bridge":
            raise ModuleFailure(
                f"Ollama listens on {host}:{port} only; a container on the bridge network cannot reach the host's loopback",
                hint="keep network: auto (host network), or let Ollama listen on the docker0 address (e.g. 172.17.0.1), "
                "never 0.0.0.0 on a reachable interface",
            )
        return Wiring("host", (f"http://127.0.0.1:{port}",), "Ollama on loopback: the container shares the host's network")
    if host in ANY:
        if not docker or args.network == "host":
            return Wiring("host", (f"http://127.0.0.1:{port}",), "Ollama on all interfaces, reached on loopback")
        return Wiring("bridge", (f"http://host.docker.internal:{port}",), "Ollama on all interfaces: through the bridge gateway")
    network = "host" if args.network == "host" or not docker else "bridge"
    return Wiring(network, (f"http://{_bracket(host)}:{port}",), f"Ollama bound to {host}")


def backend_addresses(names: list[str], variables: Mapping[str, Any]) -> list[str]:
    """Addresses of the hosts named by `names` (groups or hosts), in order, without repeats."""
    return [str(hv["ansible_host"]) if "ansible_host" in hv else h for h, hv in backend_hosts(names, variables)]


def backend_hosts(backends: list[str], variables: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, host vars) of the hosts named by `backends` (groups or hosts), in order, without repeats."""
    groups: Mapping[str, list[str]] = variables.get("groups") or {}
    hostvars: Mapping[str, Any] = variables.get("hostvars") or {}
    hosts: list[str] = []
    for item in backends:
        if item in groups:
            members = list(groups[item])
        elif item in hostvars or any(item in m for m in groups.values()):
            members = [item]
        else:
            raise ModuleFailure(
                f"backends: {item!r} is neither a group nor a host of the inventory",
                hint="name the group of the Ollama nodes, e.g. backends: [compute]",
            )
        hosts += [h for h in members if h not in hosts]
    if not hosts:
        raise ModuleFailure(f"backends {backends} name no hosts", hint="the group is empty in this inventory")
    out = []
    for h in hosts:
        try:
            out.append((h, hostvars[h]))
        except KeyError:
            raise ModuleFailure(
                f"backends: the variables of {h} are not known in this run",
                hint="run a play on the backends earlier in the same run (e.g. the one that installs Ollama there)",
            ) from None
    return out


#: shell: fetch URL/api/tags for each argument; prints one section per URL
#: ("@@url U", the body, "@@rc N"). curl (the official image, most hosts),
#: else wget (busybox), else python3.
FETCH_TAGS = r"""
fetch() {
  if command -v curl >/dev/null 2>&1; then curl -fsS --max-time 10 "$1"
  elif command -v wget >/dev/null 2>&1; then
    # busybox 1.35's wget crashes with -T: bound it from outside
    if command -v timeout >/dev/null 2>&1; then timeout 15 wget -q -O - "$1"; else wget -q -O - "$1"; fi
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"
  else echo "no curl, wget or python3 to fetch $1" >&2; return 127; fi
}
for u in "$@"; do
  echo "@@url $u"; fetch "$u/api/tags" 2>&1; rc=$?; echo; echo "@@rc $rc"
done
"""


@dataclass(frozen=True)
class Reach:
    """What one Ollama URL answered from where Open WebUI runs."""

    url: str
    ok: bool
    models: tuple[str, ...] = ()
    error: str = ""


def fetch_command(urls: tuple[str, ...]) -> str:
    """`sh -c` text that runs FETCH_TAGS for `urls` (the arguments after `_`)."""
    return "sh -c " + shlex.quote(FETCH_TAGS) + " _ " + " ".join(shlex.quote(u) for u in urls)


def parse_fetch(output: str) -> list[Reach]:
    """Sections printed by FETCH_TAGS -> one Reach per URL."""
    out: list[Reach] = []
    url: str | None = None
    body: list[str] = []
    for line in output.splitlines():
        if line.startswith("@@url "):
            url, body = line[6:], []
        elif line.startswith("@@rc ") and url is not None:
            text = "\n".join(body).strip()
            if line[5:].strip() == "0":
                try:
                    names = tuple(m.get("name", "?") for m in json.loads(text).get("models", []))
                    out.append(Reach(url, True, names))
                except (ValueError, AttributeError):
                    out.append(Reach(url, False, error=f"not Ollama's /api/tags: {text[:120]!r}"))
            else:
                out.append(Reach(url, False, error=text.splitlines()[-1] if text else f"exit {line[5:]}"))
            url = None
        elif url is not None:
            body.append(line)
    return out


def unreachable_message(bad: list[Reach], where: str, wiring: Wiring) -> str:
    """Why Open WebUI cannot reach these Ollama URLs, and what to change."""
    lines = [f"Open WebUI cannot reach Ollama from {where}:"]
    lines += [f"  {r.url}: {r.error}" for r in bad]
    if wiring.remote:
        lines.append(
            "Ollama listens on 127.0.0.1 by default, so other hosts cannot reach it. Either set backend_reach: tunnel "
            "(SSH port forwards from the front door; Ollama stays on loopback), or set the backends' ollama: listen to "
            "their lab address (Ollama has no authentication: firewall that port to the front door), or run the UI "
            "on each node."
        )
        if wiring.tunnels:
            lines[-1] = "The SSH tunnels from the front door are up, but Ollama does not answer at the other end: is it running on each backend, on 127.0.0.1 at backend_port?"
    else:
        lines.append(f"Wiring: {wiring.reason}. Is Ollama running and listening there?")
    return "\n".join(lines)
