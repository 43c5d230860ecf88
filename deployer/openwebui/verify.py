"""After (or instead of) a change: is the UI up, and does it see Ollama's models?

Both questions are asked where Open WebUI runs: /health through a tunnel to
the UI's port, and each Ollama URL fetched from inside the container (docker
exec, curl or wget or python3 - whatever the image has) or from the host
(pip mode). The task reports the UI's URL and who can reach it.
"""

from __future__ import annotations

import time
from typing import Callable

from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext
from deployer.openwebui import http
from deployer.openwebui.config import OpenWebUIArgs
from deployer.openwebui.docker import Docker
from deployer.openwebui.wiring import Wiring, fetch_command, parse_fetch, unreachable_message


def access(ctx: TaskContext, args: OpenWebUIArgs) -> tuple[str, str]:
    """(URL, who can reach it) for the report."""
    if args.bind in ("0.0.0.0", "::"):
        address = str(ctx.vars.get("ansible_host", ctx.host)) if ctx.vars else ctx.host
        return f"http://{address}:{args.port}/", f"anyone who reaches {address}:{args.port} (sign-in required)"
    host = f"[{args.bind}]" if ":" in args.bind else args.bind
    if args.bind.startswith("127.") or args.bind == "::1":
        tunnel = f"ssh -L {args.port}:{host}:{args.port} {ctx.host}, then http://localhost:{args.port}/"
        return f"http://{host}:{args.port}/", f"only this host; from elsewhere: {tunnel}"
    return f"http://{host}:{args.port}/", f"whoever reaches {args.bind} (sign-in required)"


def health_or_fail(ctx: TaskContext, args: OpenWebUIArgs, logs: Callable[[], str]) -> None:
    """Wait for GET /health (at most health_timeout); fail with the server's last log lines (read only then)."""
    start = time.monotonic()
    if http.wait_port(ctx, args.reach_host, args.port, args.health_timeout):
        base = http.base_url(ctx, args.reach_host, args.port)
        ok, last, _ = http.wait_healthy(base, max(1.0, args.health_timeout - (time.monotonic() - start)))
    else:
        ok, last = False, "the port never opened"
    waited = time.monotonic() - start
    if ok:
        ctx.report(health_seconds=round(waited, 1))
        return
    raise ModuleFailure(
        f"Open WebUI did not answer GET /health on {ctx.host} {args.reach_host}:{args.port} within {args.health_timeout}s (last: {last})",
        hint="its log follows; a first start can take minutes (raise health_timeout)",
        data={"stderr": logs()},
    )


def models_or_fail(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring, output: str, where: str) -> None:
    """Judge the FETCH_TAGS output taken where the UI runs; report the models each Ollama has."""
    reaches = parse_fetch(output)
    if len(reaches) != len(wiring.urls):
        raise ModuleFailure(f"could not check Ollama from {where}: {output.strip()[-300:] or 'no output'}")
    bad = [r for r in reaches if not r.ok]
    url, who = access(ctx, args)
    ctx.report(
        url=url,
        access=who,
        network=wiring.network if args.mode == "docker" else "host (pip)",
        wiring=wiring.reason,
        ollama=[{"url": r.url, "reachable": r.ok, "models": list(r.models)} for r in reaches],
        msg=f"Open WebUI at {url} ({who})",
    )
    if bad:
        message = unreachable_message(bad, where, wiring)
        if ctx.check_mode and ctx.earlier_changes_pending:
            ctx.warn(message + " (an earlier task would change something first)")
            return
        raise ModuleFailure(message)
    if not any(r.models for r in reaches):
        ctx.warn("Ollama answers but has no models yet: the UI will offer none")


def in_container(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring, docker: Docker) -> None:
    res = docker.exec_probe(args.name, fetch_command(wiring.urls))
    models_or_fail(ctx, args, wiring, res.stdout + res.stderr, f"inside container {args.name}")


def on_host(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring) -> None:
    res = ctx.probe(fetch_command(wiring.urls), timeout=60)
    models_or_fail(ctx, args, wiring, res.stdout + res.stderr, ctx.host)
