"""Open WebUI without docker: a venv from a wheelhouse, `open-webui serve` run detached.

For hosts without docker (HPC login or compute nodes, no root). Layout under
install_dir (default ~/.local/opt/open-webui):

    venv/            python3 -m venv; pip install --no-index --find-links wheelhouse open-webui==V
    wheelhouse/      the wheels, pushed from the control machine (resumable, verified)
    data/            DATA_DIR: the database, uploads
    open-webui.env   the environment (mode 0600), sourced by the launcher
    secret.env       WEBUI_SECRET_KEY (default secret_file), generated on the host
    open-webui.pid, open-webui.log

The server is restarted when the installed version or the environment
changed, and started when its pid file names no live `open-webui` process.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from deployer import hostfiles, transfer
from deployer.errors import InputError, Location, ModuleFailure, NotStaged
from deployer.modules.base import Change, Diff, TaskContext
from deployer.openwebui import secret, spec, verify
from deployer.openwebui.config import OpenWebUIArgs
from deployer.hostfiles import expand_home, sh_path
from deployer.openwebui.wiring import Wiring

_WHEEL = re.compile(r"^open[-_]webui-([^-]+)(-.*\.whl|\.tar\.gz)$", re.I)


def wheelhouse_version(args: OpenWebUIArgs, base_dir: Path) -> tuple[Path, list[Path], str]:
    """(wheelhouse dir, its files, the open-webui version to install)."""
    assert args.wheelhouse is not None
    d = Path(args.wheelhouse).expanduser()
    d = d if d.is_absolute() else base_dir / d
    if not d.is_dir():
        raise NotStaged(f"wheelhouse {d} is not there", str(d), "stage it (deployer stage), or `pip download open-webui -d DIR` on a connected machine with the hosts' Python")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix in (".whl", ".gz", ".zip"))
    versions = sorted({m.group(1) for p in files if (m := _WHEEL.match(p.name))})
    if args.version:
        if args.version not in versions:
            raise InputError(f"wheelhouse has no open-webui {args.version} (it has {', '.join(versions) or 'none'})", Location(str(d)))
        return d, files, args.version
    if len(versions) != 1:
        raise InputError(
            f"wheelhouse has {'no' if not versions else 'several'} open-webui versions ({', '.join(versions)})",
            Location(str(d)),
            "set version: or keep one open_webui-*.whl in it",
        )
    return d, files, versions[0]


@dataclass
class HostState:
    home: str
    python: str | None
    installed: str | None
    env_sha: str | None
    running: int | None


def _probe(ctx: TaskContext, args: OpenWebUIArgs) -> HostState:
    d = sh_path(args.install_dir)
    py = shlex.quote(args.python)
    script = f"""d={d}; echo "home=$HOME"
if command -v {py} >/dev/null 2>&1; then echo "python=$({py} -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; fi
if [ -x "$d/venv/bin/python" ]; then echo "installed=$("$d/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("open-webui"))' 2>/dev/null)"; fi
if [ -f "$d/open-webui.env" ]; then echo "env_sha=$(sha256sum < "$d/open-webui.env" | cut -d' ' -f1)"; fi
pid=$(cat "$d/open-webui.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q open-webui "/proc/$pid/cmdline" 2>/dev/null; then echo "running=$pid"; fi"""
    res = ctx.probe(script)
    values = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
    return HostState(
        home=values.get("home", ""),
        python=values.get("python") or None,
        installed=values.get("installed") or None,
        env_sha=values.get("env_sha"),
        running=int(values["running"]) if values.get("running", "").isdigit() else None,
    )


def env_text(args: OpenWebUIArgs, wiring: Wiring, install_dir: str) -> str:
    env = spec.managed_env(args, wiring)
    env["DATA_DIR"] = f"{install_dir}/data"
    lines = [f"# Open WebUI, written by deployer: open-webui serve --host {args.bind} --port {args.port}"]
    lines += [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    return "\n".join(lines) + "\n"


@dataclass
class Plan:
    install: bool
    secret: bool
    env: bool
    install_dir: str
    secret_path: str
    env_text: str
    version: str


def check(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring, verify_now: bool = True) -> Change | None:
    """What would change; with nothing to change and `verify_now`, the UI's health and models are checked."""
    _, _, version = wheelhouse_version(args, ctx.base_dir)
    host = _probe(ctx, args)
    if host.python is None:
        raise ModuleFailure(f"no {args.python} on {ctx.host}", hint="Open WebUI needs Python 3.11 or 3.12: install it or set python:")
    if host.python not in ("3.11", "3.12"):
        ctx.warn(f"{args.python} on {ctx.host} is {host.python}; Open WebUI supports 3.11 and 3.12 (set python:)")
    install_dir = expand_home(args.install_dir.rstrip("/"), host.home)
    secret_path = expand_home(args.default_secret_file(), host.home)
    text = env_text(args, wiring, install_dir)
    has_secret = secret.present(ctx, secret_path)
    plan = Plan(
        install=host.installed != version,
        secret=not has_secret,
        env=host.env_sha != hashlib.sha256(text.encode()).hexdigest(),
        install_dir=install_dir,
        secret_path=secret_path,
        env_text=text,
        version=version,
    )
    if not (plan.install or plan.secret or plan.env or host.running is None):
        if verify_now:
            verify_running(ctx, args, wiring, install_dir)
        return None
    steps = []
    if plan.install:
        steps.append(f"install open-webui {version}" + (f" (was {host.installed})" if host.installed else ""))
    if plan.secret:
        steps.append("generate the secret key")
    if plan.env:
        steps.append("write the environment")
    steps.append("restart open-webui serve" if host.running else "start open-webui serve")
    diffs = []
    if plan.env:
        before = hostfiles.read(ctx, f"{install_dir}/open-webui.env")
        old = _masked(before.decode(errors="replace")) if before is not None else None
        diffs.append(Diff(f"{install_dir}/open-webui.env", old, _masked(text)))
    return Change("; ".join(steps), diffs=diffs, data={"plan": plan})


def apply(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring, change: Change) -> None:
    plan: Plan = change.data["plan"]
    d = shlex.quote(plan.install_dir)
    if plan.install:
        _install(ctx, args, plan)
    if plan.secret:
        secret.ensure(ctx, plan.secret_path)
    if plan.env:
        hostfiles.write(ctx, f"{plan.install_dir}/open-webui.env", plan.env_text.encode(), mode="0600")
    stop = (
        f'pid=$(cat {d}/open-webui.pid 2>/dev/null); if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q open-webui "/proc/$pid/cmdline"; then '
        'kill "$pid"; for i in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done; kill -9 "$pid" 2>/dev/null; fi; '
        f"rm -f {d}/open-webui.pid"
    )
    serve = (
        f"set -a; . ./open-webui.env; . {shlex.quote(plan.secret_path)}; set +a; "
        f"exec ./venv/bin/open-webui serve --host {shlex.quote(args.bind)} --port {args.port}"
    )
    start = (
        f"cd {d} && mkdir -p data && {{ nohup setsid sh -c {shlex.quote(serve)} >> open-webui.log 2>&1 < /dev/null & "
        "echo $! > open-webui.pid; }"
    )
    res = ctx.run(f"{stop}; {start}")
    if not res.ok:
        raise ModuleFailure(f"cannot start open-webui serve on {ctx.host}: {res.tail(3)}")
    ctx.report(version=plan.version, install_dir=plan.install_dir)
    verify.health_or_fail(ctx, args, lambda: _log_tail(ctx, plan.install_dir))
    verify.on_host(ctx, args, wiring)


def _install(ctx: TaskContext, args: OpenWebUIArgs, plan: Plan) -> None:
    _, files, _ = wheelhouse_version(args, ctx.base_dir)
    house = f"{plan.install_dir}/wheelhouse"
    for f in files:
        transfer.push(ctx, transfer.local_artifact(f), f"{house}/{f.name}", label=f"push {f.name}")
    d = shlex.quote(plan.install_dir)
    script = (
        f"cd {d} && {{ [ -x venv/bin/python ] || {shlex.quote(args.python)} -m venv venv; }} && "
        f"venv/bin/python -m pip install -q --disable-pip-version-check --no-index --find-links wheelhouse "
        f"{shlex.quote('open-webui==' + plan.version)}"
    )
    res = ctx.run(script, timeout=3600)
    if not res.ok:
        raise ModuleFailure(
            f"pip install open-webui=={plan.version} on {ctx.host} failed: {res.tail(6)}",
            hint="the wheelhouse must hold every dependency for this host's Python and platform (pip download --python-version ...)",
        )


def _masked(env_file: str) -> str:
    """The env file for --diff, secret-named values hidden (spec.shown)."""
    lines = []
    for line in env_file.splitlines():
        key, sep, value = line.partition("=")
        lines.append(spec.shown(key, value) if sep and not line.startswith("#") else line)
    return "\n".join(lines) + "\n"


def verify_running(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring, install_dir: str | None = None) -> None:
    """The running UI answers /health and sees Ollama's models (`install_dir`: expanded, else args')."""
    verify.health_or_fail(ctx, args, lambda: _log_tail(ctx, install_dir or args.install_dir))
    verify.on_host(ctx, args, wiring)


def _log_tail(ctx: TaskContext, install_dir: str) -> str:
    return ctx.probe(f"tail -n 15 {sh_path(install_dir)}/open-webui.log 2>/dev/null").stdout.strip()
