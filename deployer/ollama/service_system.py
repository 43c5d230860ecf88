"""System mode: the `ollama` user, install.sh's unit plus deployer's env drop-in, systemctl.

systemctl is driven as the service module does (state from ``systemctl show
-p``, one property per call, which real systemd and the daemonless
replacement print alike). daemon-reload, enable and restart happen only when
the unit, the drop-in (which names the versioned binary) or the enablement
differ, or the server is not running/answering.
"""

from __future__ import annotations

import shlex

from deployer import hostfiles
from deployer.errors import ModuleFailure
from deployer.modules.base import Diff
from deployer.ollama import readiness
from deployer.ollama.service import Context, Step, port_taken, traversal_problem
from deployer.ollama.service_files import DROPIN_PATH, UNIT_PATH, dropin_text, unit_text
from deployer.ollama.service_state import UNIT, dirs_to_create, parse_state, probe_script

#: install.sh adds the service user to these groups when the host has them (GPU device access)
GPU_GROUPS = ("render", "video")


def plan(c: Context) -> list[Step]:
    ctx, cfg, st = c.ctx, c.cfg, c.st
    user = cfg.service_user
    if not st.systemd:
        raise ModuleFailure(
            f"systemd is not running on {ctx.host} (no /run/systemd/system): mode: system needs it",
            hint="use mode: user there (no root, no systemd: a detached `ollama serve`)",
        )
    if st.uid != 0:
        raise ModuleFailure(
            f"mode: system manages a system service as root, but commands on {ctx.host} run as uid {st.uid}",
            hint="set become: true (the play's ollama: key does), or use mode: user",
        )
    if c.state == "stopped":  # only that: the settings stay as the last start left them
        return [Step("stop ollama", lambda: _systemctl(c, "stop"))] if st.active else []
    steps: list[Step] = []
    q = shlex.quote(user)
    if not st.user_exists:
        def create_user() -> None:
            ctx.run(f"useradd -r -s /bin/false -U -m -d /usr/share/{q} {q}").check(f"useradd {user}")
            _recheck_traversal(c)

        steps.append(Step(f"create user {user}", create_user))
    groups = sorted(g for g in GPU_GROUPS if g in st.host_groups and g not in st.user_groups)
    if groups:
        steps.append(Step(f"add {user} to {', '.join(groups)}", lambda: ctx.run(
            f"usermod -a -G {','.join(groups)} {q}").check(f"usermod {user}")))
    if st.user_exists and st.untraversable:
        raise traversal_problem(ctx, user, st.untraversable)
    steps += _models_dir(c)
    # useradd -U gives a new user a group of its name; an existing user keeps its own
    unit = unit_text(c.lay.binary, user, st.user_group or user)
    dropin = dropin_text(c.env, c.binary)
    old_unit, old_dropin = _read(c, UNIT_PATH), _read(c, DROPIN_PATH)
    files = []
    for path, old, new in ((UNIT_PATH, old_unit, unit), (DROPIN_PATH, old_dropin, dropin)):
        if old != new:
            c.diffs.append(Diff(path, old, new))
            files.append(path)
            steps.append(Step(f"write {path}", lambda p=path, t=new: _write(c, p, t)))
    if files or st.props.get("NeedDaemonReload") == "yes":
        steps.append(Step("daemon-reload", lambda: _systemctl(c, "daemon-reload")))
    if not st.enabled:
        steps.append(Step("enable ollama", lambda: _systemctl(c, "enable")))
    if not st.active:
        if st.port_busy:
            raise port_taken(ctx, cfg)
        steps.append(Step("start ollama", lambda: _restart(c)))
    elif files:
        steps.append(Step("restart ollama", lambda: _restart(c)))
    elif not readiness.answers(ctx, cfg):
        steps.append(Step(f"restart ollama (it does not answer on {cfg.listen})", lambda: _restart(c)))
    return steps


def _read(c: Context, path: str) -> str | None:
    data = hostfiles.read(c.ctx, path)
    return None if data is None else data.decode("utf-8", "replace")


def _write(c: Context, path: str, text: str) -> None:
    c.ctx.run(f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0])}").check(f"create the directory of {path}")
    hostfiles.write(c.ctx, path, text.encode(), mode="0644", owner="root", group="root")


def _models_dir(c: Context) -> list[Step]:
    """Create the models dir owned by the service user (every directory deployer creates for it)."""
    st, user = c.st, c.cfg.service_user
    owner = shlex.quote(user) + ":" + shlex.quote(st.user_group or user)
    if not st.models_exists:
        new = " ".join(shlex.quote(d) for d in dirs_to_create(st.models, st.models_existing))

        def create() -> None:
            c.ctx.run(f"install -d -m 0755 {new} && chown {owner} {new}").check(f"create {st.models}")
            _recheck_traversal(c)

        return [Step(f"create {st.models} (owner {user})", create)]
    if st.models_owner != user:
        return [Step(f"chown {st.models} to {user} (was {st.models_owner})", lambda: c.ctx.run(
            f"chown -R {owner} {shlex.quote(st.models)}").check(f"chown {st.models}"))]
    return []


def _recheck_traversal(c: Context) -> None:
    """After creating the user or the dir: the kernel's answer for the service user, now that both exist."""
    res = c.ctx.probe(probe_script(c.lay, c.st.models, True, c.cfg.service_user, ""))
    bad = parse_state(res.stdout).untraversable
    if bad:
        raise traversal_problem(c.ctx, c.cfg.service_user, bad)


def _systemctl(c: Context, verb: str) -> None:
    target = "" if verb == "daemon-reload" else f" {UNIT}"
    res = c.ctx.run(f"systemctl {verb}{target}")
    if not res.ok:
        log = f"\nLast lines of its log:\n{readiness.systemd_log(c.ctx)}" if verb == "restart" else ""
        raise ModuleFailure(
            f"systemctl {verb}{target} failed on {c.ctx.host} (exit {res.rc}): {res.tail(5) or 'no output'}{log}",
            hint="see: journalctl -u ollama -n 50",
        )


def _restart(c: Context) -> None:
    _systemctl(c, "restart")
    version = readiness.wait_ready(c.ctx, c.cfg, c.wait, lambda: readiness.systemd_log(c.ctx), "journalctl -u ollama")
    readiness.check_version(c.ctx, c.cfg, version, c.st.current)
    c.ctx.report(running_version=version)
