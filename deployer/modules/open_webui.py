"""open_webui, open_webui_admin, and the play's ``frontend: {open_webui: {...}}`` key.

    - name: Chat front end
      hosts: compute
      ollama: {version: "0.5.7", listen: "127.0.0.1:11434", ...}
      frontend:
        open_webui:
          port: 3000
          image_tarball: artifacts/open-webui.tar     # offline: docker load
          admin_email: admin@lab.example
          admin_password: "{{ openwebui_admin_password }}"   # an inventory var, never printed

expands into two tasks:

- ``Open WebUI: service`` (open_webui): the container (or the pip venv),
  its secret key, and the wiring to Ollama (see deployer/openwebui/wiring.py
  for why the container uses the host network when Ollama listens on
  loopback); then /health and Ollama's models as the UI sees them; reports
  the URL and who can reach it.
- ``Open WebUI: admin account`` (open_webui_admin, ``no_log``): signs the
  admin up through Open WebUI's API unless it can already sign in.

The Ollama port comes from the play's ``ollama: listen`` when the play has
one. For a front door in front of several Ollama nodes, run the key on one
host with ``backends: [compute]``.
"""

from __future__ import annotations

from typing import Any

from deployer.errors import InputError, Location, ModuleFailure
from deployer.modules import register
from deployer.modules.base import Change, Module, TaskContext
from deployer.openwebui import admin, service_docker, service_pip, tunnels
from deployer.openwebui.config import AdminArgs, OpenWebUIArgs
from deployer.openwebui.wiring import Wiring, fetch_command, parse_fetch, resolve, unreachable_message
from deployer.playbook import register_stack_key


@register
class OpenWebUIModule(Module[OpenWebUIArgs]):
    """Open WebUI on a host (docker container or pip venv), wired to Ollama, checked healthy."""

    name = "open_webui"
    Args = OpenWebUIArgs

    def check(self, ctx: TaskContext, args: OpenWebUIArgs) -> Change | None:
        wiring = resolve(args, ctx.vars)
        plan = tunnels.check(ctx, args.name, list(wiring.tunnels)) if wiring.tunnels else None
        if plan is not None and plan.changed:
            # the tunnels come first; the UI is checked against Ollama once they are up
            service = _service_check(ctx, args, wiring, verify=False)
            steps = plan.steps + ([service.summary] if service else [])
            return Change("; ".join(steps), diffs=service.diffs if service else [], data={"tunnels": plan, "service": service})
        if args.backends:
            _backends_reachable(ctx, wiring)
        return _service_check(ctx, args, wiring)

    def apply(self, ctx: TaskContext, args: OpenWebUIArgs, change: Change) -> None:
        wiring = resolve(args, ctx.vars)
        service: Change | None = change
        plan: tunnels.Plan | None = change.data.get("tunnels")
        if plan is not None:
            service = change.data["service"]
            tunnels.apply(ctx, plan)
            if not tunnels.wait_up(ctx, plan.tunnels):
                raise ModuleFailure(
                    f"the SSH tunnels from {ctx.host} to {', '.join(b.host for b in plan.tunnels)} did not come up",
                    hint="the keeper's log follows (host key, authorized_keys, or a local port in use?)",
                    data={"stderr": tunnels.log_tail(ctx, plan.directory)},
                )
            _backends_reachable(ctx, wiring)
        if service is not None:
            if args.mode == "pip":
                service_pip.apply(ctx, args, wiring, service)
            else:
                service_docker.apply(ctx, args, wiring, service)
        elif args.mode == "pip":  # the UI itself unchanged: its health and models, now through the tunnels
            service_pip.verify_running(ctx, args, wiring)
        else:
            service_docker.verify_running(ctx, args, wiring)
        # the result line says where the UI now is, without -v
        change.summary = f"{change.summary}; {ctx.result['msg']}"


def _service_check(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring, verify: bool = True) -> Change | None:
    if args.mode == "pip":
        return service_pip.check(ctx, args, wiring, verify)
    return service_docker.check(ctx, args, wiring, verify)


def _backends_reachable(ctx: TaskContext, wiring: Wiring) -> None:
    """Before starting a front door: do the backends' Ollama answer from this host?"""
    res = ctx.probe(fetch_command(wiring.urls), timeout=60)
    bad = [r for r in parse_fetch(res.stdout + res.stderr) if not r.ok]
    if not bad:
        return
    message = unreachable_message(bad, ctx.host, wiring)
    if ctx.check_mode:
        ctx.warn(message)
        return
    raise ModuleFailure(message)


@register
class OpenWebUIAdminModule(Module[AdminArgs]):
    """The Open WebUI admin account: signed up at deploy time unless it can already sign in."""

    name = "open_webui_admin"
    Args = AdminArgs

    def check(self, ctx: TaskContext, args: AdminArgs) -> Change | None:
        return admin.check(ctx, args)

    def apply(self, ctx: TaskContext, args: AdminArgs, change: Change) -> None:
        admin.apply(ctx, args, change)


#: keys of `frontend.open_webui` that belong to the admin task, with their names there
ADMIN_KEYS: dict[str, str] = {"admin_email": "email", "admin_password": "password", "admin_name": "admin_name"}


def expand_frontend(value: Any, play_raw: dict, location: Location) -> list[dict]:
    """`frontend: {open_webui: {...}}` -> the service task and the admin task."""
    if not isinstance(value, dict) or set(value) != {"open_webui"}:
        raise InputError("frontend takes one key, open_webui", location, "frontend: {open_webui: {port: 3000, admin_email: ..., admin_password: ...}}")
    conf = value["open_webui"] or {}
    if not isinstance(conf, dict):
        raise InputError("frontend.open_webui must be a mapping of settings", location)
    if not conf.get("admin_email"):
        raise InputError(
            "frontend.open_webui needs admin_email: the first account to sign up becomes Open WebUI's admin, "
            "so deployer creates it at deploy time",
            location,
            "e.g. admin_email: admin@lab.example, and admin_password: '{{ openwebui_admin_password }}' from an inventory "
            "var (without it a password is generated on the host)",
        )
    service = {k: v for k, v in conf.items() if k not in ADMIN_KEYS}
    ollama = play_raw.get("ollama")
    if isinstance(ollama, dict) and "listen" in ollama and "ollama_url" not in service and "backends" not in service:
        service.setdefault("ollama_listen", ollama["listen"])
    admin_args = {ADMIN_KEYS[k]: v for k, v in conf.items() if k in ADMIN_KEYS}
    admin_args.update({k: conf[k] for k in ("port", "bind") if k in conf})
    return [
        {"name": "Open WebUI: service", "open_webui": service},
        {"name": "Open WebUI: admin account", "open_webui_admin": admin_args, "no_log": True},
    ]


#: after ollama: and models: (the UI needs Ollama), before verify: (benchmarks)
register_stack_key("frontend", 30, expand_frontend)
