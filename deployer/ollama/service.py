"""ollama_service's work, common to both modes: read the host, plan, then apply step by step.

The plan is a list of :class:`Step` (words for the summary plus what to run);
check() builds it from one probe and the current unit/drop-in/env texts;
apply() runs exactly those steps, then waits until the server answers (when it
was started or restarted). Mode specifics live in service_system.py (systemd)
and service_user.py (a detached ``ollama serve`` without root or systemd).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from deployer.errors import ModuleFailure
from deployer.modules.base import Change, Diff, TaskContext
from deployer.ollama.config import OllamaConfig
from deployer.ollama.layout import USER_LOG, USER_RUN_DIR, Layout, default_models_dir, layout
from deployer.hostfiles import expand_home
from deployer.ollama.release import human_bytes
from deployer.ollama.service_files import server_env
from deployer.ollama.service_state import ServiceState, UserRun, parse_state, probe_script


@dataclass
class Step:
    """One thing apply() does, described for the summary."""

    words: str
    run: Callable[[], None]


@dataclass
class Context:
    """Everything the mode-specific planners need, read once in check()."""

    ctx: TaskContext
    cfg: OllamaConfig
    lay: Layout
    st: ServiceState
    run: UserRun
    env: dict[str, str]
    binary: str  # the versioned binary current points to (or the current/ path before an install)
    state: str  # "started" | "stopped"
    wait: float
    diffs: list[Diff] = field(default_factory=list)


def user_run() -> UserRun:
    return UserRun(f"{USER_RUN_DIR}/ollama.pid", f"{USER_RUN_DIR}/ollama.env", USER_LOG)


def read(ctx: TaskContext, cfg: OllamaConfig) -> tuple[Layout, ServiceState, UserRun]:
    lay = layout(cfg.mode, cfg.prefix)
    models = cfg.models_dir or default_models_dir(cfg.mode)
    run = user_run()
    res = ctx.probe(probe_script(lay, models, cfg.mode == "system", cfg.service_user, run.pid_file, cfg.port))
    if not res.ok:
        raise ModuleFailure(f"cannot read the Ollama service state on {ctx.host}: {res.tail(3)}")
    st = parse_state(res.stdout)
    home = st.home
    run = UserRun(expand_home(run.pid_file, home), expand_home(run.env_file, home), expand_home(run.log, home))
    return lay.expanded(home), st, run


def check(ctx: TaskContext, cfg: OllamaConfig, state: str, wait: float) -> Change | None:
    from deployer.ollama import service_system, service_user  # they build on Step and Context, above

    lay, st, run = read(ctx, cfg)
    if not cfg.loopback:
        ctx.warn(
            f"Ollama listens on {cfg.listen} on {ctx.host}: its API has no authentication, anyone who reaches "
            "that address can use and delete models (allow_public_bind: true)"
        )
    binary = st.binary
    if binary is None and state == "started":
        if not (ctx.check_mode and ctx.earlier_changes_pending):
            raise ModuleFailure(
                f"Ollama is not installed on {ctx.host}: no {lay.binary}",
                hint="run ollama_install first (the play's ollama: key does), with the same mode and prefix",
            )
    binary = binary or lay.binary  # under --check before the install that would run; or stopping
    c = Context(ctx, cfg, lay, st, run, server_env(cfg, st.models), binary, state, wait)
    steps = service_system.plan(c) if cfg.mode == "system" else service_user.plan(c)
    if not steps and state == "started" and ctx.check_mode and ctx.earlier_changes_pending:
        # an install earlier in this --check run would switch `current`: the real run restarts then
        steps = [Step("restart ollama if an earlier task switches its version", lambda: None)]
    free = f", {human_bytes(st.models_free)} free" if st.models_free is not None else ""
    ctx.report(
        mode=cfg.mode, listen=cfg.listen, models_dir=st.models, models_free_bytes=st.models_free,
        binary=binary, version=st.current,
    )
    if not steps:
        what = f"Ollama {st.current} running on {cfg.listen}" if state == "started" else f"Ollama {st.current or '(not installed)'} not running"
        ctx.report(msg=f"{what}; models in {st.models}{free}")
        return None
    summary = ", ".join(s.words for s in steps) + f" (models in {st.models}{free})"
    return Change(summary, c.diffs, {"steps": steps})


def apply(change: Change) -> None:
    for step in change.data["steps"]:
        step.run()


def port_taken(ctx: TaskContext, cfg: OllamaConfig) -> ModuleFailure:
    return ModuleFailure(
        f"port {cfg.port} on {ctx.host} is taken by another process (another Ollama?): nothing was started",
        hint=f"choose another port, e.g. listen: {cfg.bind_host}:{cfg.port + 1}, or stop what holds it",
    )


def traversal_problem(ctx: TaskContext, user: str, dirs: list[str]) -> ModuleFailure:
    return ModuleFailure(
        f"the service user {user} cannot reach the models dir on {ctx.host}: no search (x) permission on {', '.join(dirs)}",
        hint=f"chmod o+x {dirs[0]} (or give {user} access), or choose a models_dir it can reach",
    )
