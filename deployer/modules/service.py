"""service (alias systemd): start/stop/restart/reload a systemd unit and enable or
disable it, as ansible.builtin.systemd.

State is read with one ``systemctl show UNIT`` (all properties; the ones that
matter are picked out) rather than ``is-active``/``is-enabled``: ``show`` prints
ActiveState and UnitFileState in the same form under real systemd and under
Debian's daemonless ``systemctl`` replacement, whose ``is-active`` folds the
enablement in (it answered "unknown" for a running unit that was not enabled).
A host without a running systemd (no /run/systemd/system) is an error that
says so.
"""

from __future__ import annotations

import shlex
from typing import Literal

from pydantic import AliasChoices, Field, model_validator

from deployer.errors import ModuleFailure
from deployer.modules import register
from deployer.modules.base import Change, Diff, Module, ModuleArgs, TaskContext

_PROPS = ("LoadState", "ActiveState", "UnitFileState", "NeedDaemonReload")
_RUNNING = ("active", "activating", "reloading")
#: unit file states that count as enabled (or that cannot be enabled: static units)
_ENABLED = ("enabled", "enabled-runtime", "static", "indirect", "generated", "alias", "linked", "linked-runtime")
NO_SYSTEMD = "__deployer_no_systemd__"


class ServiceArgs(ModuleArgs):
    name: str | None = Field(
        None,
        validation_alias=AliasChoices("name", "service", "unit"),
        description="The unit, e.g. 'ollama' or 'ollama.service' (aliases: service, unit).",
    )
    state: Literal["started", "stopped", "restarted", "reloaded"] | None = Field(
        None,
        description="started/stopped change only when needed; restarted and reloaded always act "
        "(a unit that is not running is started).",
    )
    enabled: bool | None = Field(None, description="Start the unit at boot (true) or not (false).")
    daemon_reload: bool = Field(
        False,
        validation_alias=AliasChoices("daemon_reload", "daemon-reload"),
        description="Run 'systemctl daemon-reload' first (when the unit needs it, or anything else changes).",
    )
    scope: Literal["system", "user"] = Field("system", description="system: the system manager; user: the calling user's manager (systemctl --user).")

    @model_validator(mode="after")
    def _something(self) -> "ServiceArgs":
        if self.name is None and (self.state is not None or self.enabled is not None):
            raise ValueError("'name' is needed with 'state' or 'enabled'")
        if self.state is None and self.enabled is None and not self.daemon_reload:
            raise ValueError("say what to do: 'state', 'enabled' and/or 'daemon_reload'")
        return self


def _systemctl(scope: str) -> str:
    if scope == "user":
        # sudo -u someone does not set XDG_RUNTIME_DIR: systemctl --user needs it to find the manager
        return 'XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" systemctl --user'
    return "systemctl"


def _show(state: dict[str, str]) -> str:
    return f"active: {state.get('ActiveState', '?')}\nenabled: {state.get('UnitFileState') or '?'}\n"


@register
class ServiceModule(Module[ServiceArgs]):
    """Manage a systemd unit's running state and boot-time enablement."""

    name = "service"
    aliases = ("systemd", "systemd_service")
    Args = ServiceArgs

    def check(self, ctx: TaskContext, args: ServiceArgs) -> Change | None:
        sc = _systemctl(args.scope)
        unit = args.name or ""
        # one call: each systemctl start costs ~60 ms under the daemonless replacement
        queries = f"{sc} show {shlex.quote(unit)}" if unit else "true"
        res = ctx.probe(f"[ -d /run/systemd/system ] || {{ echo {NO_SYSTEMD}; exit 0; }}; {queries}")
        if NO_SYSTEMD in res.stdout:
            raise ModuleFailure(
                f"systemd is not running on {ctx.host} (no /run/systemd/system): cannot manage {unit or 'units'}",
                hint="run the service without systemd there, e.g. start it from a command/shell task with nohup, "
                "or use a mode that needs no systemd (ollama mode: user)",
            )
        if not res.ok:
            raise ModuleFailure(f"systemctl show {unit} failed on {ctx.host}: {res.tail(3)}")
        props = {k: v for k, _, v in (line.partition("=") for line in res.stdout.splitlines()) if k in _PROPS}
        steps = self._steps(ctx, args, props)
        if not steps:
            return None
        after = dict(props)
        if any(s in ("start", "restart", "reload") for s in steps):
            after["ActiveState"] = "active"
        if "stop" in steps:
            after["ActiveState"] = "inactive"
        if "enable" in steps or "disable" in steps:
            after["UnitFileState"] = "enabled" if "enable" in steps else "disabled"
        label = f"{unit}: " if unit else ""
        diffs = [Diff(unit, _show(props), _show(after))] if unit else []
        return Change(label + ", ".join(steps), diffs, {"steps": steps})

    def _steps(self, ctx: TaskContext, args: ServiceArgs, props: dict[str, str]) -> list[str]:
        steps: list[str] = []
        unit = args.name
        if unit is not None:
            if props.get("LoadState") == "not-found":
                # a unit file written by an earlier task (under --check: not written yet)
                if not (args.daemon_reload or (ctx.check_mode and ctx.earlier_changes_pending)):
                    raise ModuleFailure(
                        f"unit {unit} not found on {ctx.host}",
                        hint="install its unit file first (e.g. template to /etc/systemd/system/), or check the name",
                    )
                props = {"ActiveState": "inactive", "UnitFileState": "disabled"}
            enabled_now = props.get("UnitFileState", "")
            if enabled_now == "masked" and (args.state in ("started", "restarted", "reloaded") or args.enabled):
                raise ModuleFailure(f"unit {unit} is masked on {ctx.host}", hint=f"unmask it first: systemctl unmask {unit}")
            if args.enabled is True and enabled_now not in _ENABLED:
                steps.append("enable")
            elif args.enabled is False and enabled_now in ("enabled", "enabled-runtime"):
                steps.append("disable")
            running = props.get("ActiveState") in _RUNNING
            if args.state == "started" and not running:
                steps.append("start")
            elif args.state == "stopped" and (running or props.get("ActiveState") == "deactivating"):
                steps.append("stop")
            elif args.state in ("restarted", "reloaded"):
                steps.append((args.state[:-2]) if running else "start")
        if args.daemon_reload and (steps or unit is None or props.get("NeedDaemonReload") == "yes"):
            steps.insert(0, "daemon-reload")
        return steps

    def apply(self, ctx: TaskContext, args: ServiceArgs, change: Change) -> None:
        sc = _systemctl(args.scope)
        for step in change.data["steps"]:
            target = "" if step == "daemon-reload" else " " + shlex.quote(args.name or "")
            res = ctx.run(f"{sc} {step}{target}")
            if not res.ok:
                unit = args.name or ""
                raise ModuleFailure(
                    f"systemctl {step}{' ' + unit if target else ''} failed on {ctx.host} (exit {res.rc}): {res.tail(5)}",
                    hint=f"see: journalctl -u {unit} -n 50" if unit else None,
                    data={"rc": res.rc, "stderr": res.stderr},
                )
        ctx.report(name=args.name, steps=change.data["steps"])
