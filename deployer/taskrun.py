"""One task on one host: loop, when, templating, check/apply, retries, register.

Runs in a worker thread; it returns a TaskResult and never prints. Exceptions
from modules become failed results; Unreachable marks the host unreachable.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from pydantic import ValidationError

from deployer.connection import Connection, LocalConnection
from deployer.errors import CheckModeViolation, DeployerError, Interrupted, NotStaged, Unreachable
from deployer.facts.bandwidth import measure as measure_bandwidth
from deployer.facts.model import HostFacts
from deployer.modules.base import Change, FactsProvider, TaskContext, execute
from deployer.playbook import Play, Task
from deployer.results import Redactor, TaskResult, summarize
from deployer.ssh import SSHConnector
from deployer.targets import ConnectOptions, become_for, is_local, ssh_target
from deployer.templating import Templar, TemplateError
from deployer.variables import HostVarsMapping, LazyMapping, Variables


class HostNotContacted(DeployerError):
    """Planning from a facts file: this host is not to be contacted."""


@dataclass
class HostState:
    """What the run knows about one host; touched only by that host's worker."""

    name: str
    inv_vars: dict[str, Any]
    group_names: list[str]
    facts: FactsProvider | None = None
    connection: Connection | None = None
    persistent: dict[str, Any] = field(default_factory=dict)  # set_fact + register
    pending_registers: set[str] = field(default_factory=set)
    pending_check: bool = False
    failed: bool = False
    unreachable: bool = False
    notified: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def live(self) -> bool:
        return not (self.failed or self.unreachable)


@dataclass
class RunEnv:
    """Run-wide context shared by every worker (read-only while tasks run)."""

    templar: Templar
    hosts: dict[str, HostState]
    groups: dict[str, list[str]]
    extra_vars: dict[str, Any]
    check: bool
    diff: bool
    connect: ConnectOptions
    connector: SSHConnector
    redactor: Redactor
    gather: Callable[[Connection], HostFacts]
    preset_facts: dict[str, HostFacts] | None = None
    play: Play | None = None
    play_hosts: list[str] = field(default_factory=list)
    batch: list[str] = field(default_factory=list)
    base_dir: Path = field(default_factory=Path.cwd)
    progress_sink: Callable[[str, int, int, str], None] | None = None
    verbosity: int = 0
    #: set on Ctrl-C: a connection opened after it is interrupted at once
    stop: threading.Event | None = None
    #: work modules deferred to the end of the current task (TaskContext.defer)
    deferred: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    deferred_lock: threading.Lock = field(default_factory=threading.Lock)

    def defer(self, host: str, work: Callable[[], None]) -> None:
        with self.deferred_lock:
            self.deferred.append((host, work))

    def take_deferred(self) -> list[tuple[str, Callable[[], None]]]:
        with self.deferred_lock:
            work, self.deferred = self.deferred, []
        return work

    # -- connections and facts ----------------------------------------
    def connection(self, hs: HostState) -> Connection:
        with hs.lock:
            if hs.connection is None:
                if self.preset_facts is not None:
                    raise HostNotContacted(f"{hs.name} is planned from a facts file and not contacted")
                if is_local(hs.name, hs.inv_vars):
                    hs.connection = LocalConnection(hs.name)
                else:
                    hs.connection = self.connector.connect(ssh_target(hs.name, hs.inv_vars, self.connect))
                if self.stop is not None and self.stop.is_set():
                    hs.connection.interrupt()
            return hs.connection

    def peer(self, name: str) -> Connection:
        """The connection to another inventory host (opened on first use, then kept for the run)."""
        hs = self.hosts.get(name)
        if hs is None:
            raise HostNotContacted(f"{name} is not a host of this inventory")
        return self.connection(hs)

    def facts_provider(self, hs: HostState) -> FactsProvider:
        if hs.facts is None:
            preset = (self.preset_facts or {}).get(hs.name)
            if self.preset_facts is not None and preset is None:
                raise HostNotContacted(f"the facts file has no entry for {hs.name}")
            hs.facts = FactsProvider(lambda: self._gather(hs), preset)
        return hs.facts

    def _gather(self, hs: HostState) -> HostFacts:
        conn = self.connection(hs)
        facts = self.gather(conn)
        if _truthy(self.extra_vars.get("deployer_measure_bandwidth", hs.inv_vars.get("deployer_measure_bandwidth"))):
            facts = measure_bandwidth(conn, facts)
        return facts

    # -- variables ----------------------------------------------------
    def variables(self, hs: HostState, task_vars: Mapping[str, Any] | None = None) -> Variables:
        play = self.play
        assert play is not None
        magic: dict[str, Any] = {
            "inventory_hostname": hs.name,
            "inventory_hostname_short": hs.name.split(".")[0],
            "group_names": hs.group_names,
            "groups": self.groups,
            "hostvars": HostVarsMapping(list(self.hosts), self._hostvars),
            "ansible_play_hosts": self.play_hosts,
            "ansible_play_hosts_all": self.play_hosts,
            "play_hosts": self.play_hosts,
            "ansible_play_batch": self.batch,
            "ansible_check_mode": self.check,
            "ansible_diff_mode": self.diff,
            "ansible_verbosity": self.verbosity,
            "playbook_dir": str(self.base_dir),
        }
        if play.kw.gather_facts:
            magic["deployer_facts"] = LazyMapping(lambda: self.facts_provider(hs).get().model_dump(mode="json"))
        layers: list[Mapping[str, Any]] = [
            magic,
            self.extra_vars,
            dict(task_vars or {}),
            hs.persistent,
            play.vars_from_files,
            play.kw.vars,
            hs.inv_vars,
        ]
        return Variables(layers, self.templar)

    def _hostvars(self, name: str) -> Mapping[str, Any]:
        hs = self.hosts[name]
        layers: list[Mapping[str, Any]] = [self.extra_vars, hs.persistent, hs.inv_vars]
        if hs.facts is not None and hs.facts.loaded:
            layers.insert(0, {"deployer_facts": hs.facts.get().model_dump(mode="json")})
        return Variables(layers, self.templar)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _cond_value(templar: Templar, value: Any, variables: Mapping[str, Any]) -> bool:
    if isinstance(value, bool):
        return value
    return templar.condition(value, variables)


def run_task(task: Task, hs: HostState, env: RunEnv) -> TaskResult:
    """Run `task` on one host (all loop items); never raises."""
    start = time.monotonic()
    play_name = env.play.name if env.play else ""
    try:
        base = env.variables(hs, task.kw.vars)
        loop = task.loop
        if loop is None:
            result = _run_item(task, hs, env, base, None)
        else:
            items = env.templar.render(loop, base)
            if not isinstance(items, list):
                raise TemplateError(f"loop must give a list, got {type(items).__name__}: {str(items)[:80]}")
            lc = task.kw.loop_control
            item_results = []
            for i, item in enumerate(items):
                layer = {lc.loop_var: item}
                if lc.index_var:
                    layer[lc.index_var] = i
                r = _run_item(task, hs, env, base.with_layer(layer), item)
                item_results.append(r)
                if r.status == "unreachable":
                    break
            status = summarize(item_results)
            result = TaskResult(hs.name, task.name, task.action, status, items=item_results)
            result.ignored = any(r.ignored for r in item_results) and status == "failed"
            result.msg = "; ".join(r.msg for r in item_results if r.status == status and r.msg)[:2000]
            result.no_log = any(r.no_log for r in item_results)
    except HostNotContacted as exc:
        result = TaskResult(hs.name, task.name, task.action, "changed" if env.check else "failed", msg=f"not contacted: {exc}")
    except Unreachable as exc:
        result = TaskResult(hs.name, task.name, task.action, "unreachable", msg=str(exc))
    except Interrupted as exc:
        result = TaskResult(hs.name, task.name, task.action, "failed", msg=str(exc))
    except (DeployerError, ValidationError) as exc:
        result = _failure(hs, task, env, exc)
    result.duration = time.monotonic() - start
    result.play = play_name
    _record(task, hs, env, result)
    return result


PENDING_MSG = "would run; its input comes from an earlier task that would change (not known under --check)"
PENDING_READ_ONLY = "not checked: its input comes from an earlier task that did not run under --check"


def _depends_on_pending(task: Task, hs: HostState, env: RunEnv, exc: Exception) -> bool:
    """Under --check: did this template error come from a result an earlier task did not produce?"""
    if not (env.check and hs.pending_registers and isinstance(exc, TemplateError)):
        return False
    used = env.templar.variables_of(task.args) | env.templar.variables_of(task.kw.when or "")
    for f in task.module.expression_fields:
        exprs = task.args.get(f)
        for e in exprs if isinstance(exprs, list) else [exprs]:
            if isinstance(e, str):
                used |= env.templar.expression_variables(e)
    return bool(used & hs.pending_registers)


def _pending(task: Task, hs: HostState, name: str, no_log: bool = False) -> TaskResult:
    """Under --check: the task would run but its input is unknown; what it would set is unknown too."""
    if task.action == "set_fact":
        hs.pending_registers |= {k for k in task.args if isinstance(k, str)}
    hs.pending_registers |= set(task.module.provides_vars)
    if task.module.read_only:
        return TaskResult(hs.name, name, task.action, "skipped", msg=PENDING_READ_ONLY, no_log=no_log)
    return TaskResult(hs.name, name, task.action, "changed", msg=PENDING_MSG, no_log=no_log)


def _failure(hs: HostState, task: Task, env: RunEnv, exc: Exception) -> TaskResult:
    if _depends_on_pending(task, hs, env, exc):
        return _pending(task, hs, task.name)
    ignored = _ignored(task, env, hs)
    return TaskResult(hs.name, task.name, task.action, "failed", msg=_message(exc, task), ignored=ignored)


def _ignored(task: Task, env: RunEnv, hs: HostState) -> bool:
    value = task.kw.ignore_errors
    if isinstance(value, bool):
        return value
    try:
        return env.templar.condition(value, env.variables(hs, task.kw.vars))
    except DeployerError:
        return False


def _message(exc: Exception, task: Task) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "arguments"
            parts.append(f"{where}: {err['msg']}")
        return f"{task.action}: bad arguments after templating: " + "; ".join(parts)
    if isinstance(exc, CheckModeViolation):
        return f"internal error (a module tried to write where it may not): {exc}"
    text = str(exc)
    if isinstance(exc, TemplateError):
        text = f"{text} (task at {task.location})"
    return text


def _run_item(task: Task, hs: HostState, env: RunEnv, variables: Variables, item: Any) -> TaskResult:
    templar = env.templar
    module = task.module
    label = None
    if item is not None:
        label_tpl = task.kw.loop_control.label
        label = str(templar.render(label_tpl, variables)) if label_tpl else str(item)[:80]
    name = task.name if label is None else f"{task.name} ({label})"
    no_log = _cond_value(templar, task.kw.no_log, variables)
    if task.kw.when is not None and not templar.condition(task.kw.when, variables):
        return TaskResult(hs.name, name, task.action, "skipped", msg="condition false", no_log=no_log)
    raw_args = templar.render(task.args, variables)
    args = module.Args.model_validate(raw_args)
    play = env.play
    assert play is not None
    become = become_for(hs.inv_vars, task.kw.become, task.kw.become_user, play.kw.become, play.kw.become_user, env.connect)
    if become and become.password:
        env.redactor.add(become.password)
    environment = {k: str(v) for k, v in templar.render({**play.kw.environment, **task.kw.environment}, variables).items()}
    planning = env.preset_facts is not None and module.plans_from_facts
    connection = env.connection(hs) if module.needs_connection and not planning else None
    ctx = TaskContext(
        host=hs.name,
        connection=connection,
        vars=variables,
        check_mode=env.check,
        diff_mode=env.diff,
        become=become,
        task_name=name,
        base_dir=env.base_dir,
        facts_provider=env.facts_provider(hs) if module.needs_connection or play.kw.gather_facts else None,
        earlier_changes_pending=hs.pending_check,
        renderer=lambda text, extra: str(templar.render(text, variables.with_layer(extra) if extra else variables)),
        progress_sink=env.progress_sink,
        env=environment,
        after_task=lambda work: env.defer(hs.name, work),
        peers=env.peer,
    )
    retries = _retries(task, templar, variables)
    delay = float(templar.render(task.kw.delay, variables)) if task.kw.until is not None else 0.0
    attempt = 0
    while True:
        attempt += 1
        ctx.result = {}
        ctx.warnings = []
        error: Exception | None = None
        change = None
        try:
            change = execute(module(), ctx, args)
        except (Unreachable, Interrupted):
            raise
        except (DeployerError, ValidationError, OSError) as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - a module bug must fail one task, not the run
            error = DeployerError(f"internal error in {task.action}: {exc!r}\n{traceback.format_exc(limit=6)}")
        data = dict(ctx.result)
        if error is not None and _depends_on_pending(task, hs, env, error):
            return _pending(task, hs, name, no_log)
        if error is not None and env.check and isinstance(error, NotStaged):
            # a dry run shows the plan; what is not staged yet is a warning here, a failure in a real run
            reason = data.get("reason")
            change = Change(f"would run once {error.path} is staged" + (f": {reason}" if reason else ""))
            ctx.warnings.append(f"not staged yet: {error}")
            error = None
        if error is not None:
            status = "failed"
            msg = _message(error, task)
            data.update(getattr(error, "data", {}) or {})
        else:
            status = "changed" if change is not None else "ok"
            msg = change.summary if change is not None else str(data.get("msg", ""))
        result = TaskResult(hs.name, name, task.action, status, msg=msg, data=data, warnings=list(ctx.warnings), no_log=no_log)
        if change is not None:
            result.diffs = change.diffs
        ran = not (env.check and change is not None)  # under --check a changing module did not run
        if ran:
            _apply_overrides(task, templar, variables, result)
        elif task.kw.changed_when is False:
            # declared never to change anything (a query): not run, and not a change either
            result.status = "skipped"
            result.msg = f"not run under --check ({change.summary})" if change else "not run under --check"
        if task.kw.until is None or not ran or attempt > retries:
            break
        probe_vars = variables.with_layer({task.kw.register_as: result.registered()} if task.kw.register_as else {})
        if templar.condition(task.kw.until, probe_vars):
            break
        time.sleep(delay)
    if task.kw.until is not None:
        result.data["attempts"] = attempt
    if ctx.new_vars:
        hs.persistent.update(ctx.new_vars)
    if result.status == "failed":
        result.ignored = _ignored(task, env, hs)
    return result


def _retries(task: Task, templar: Templar, variables: Mapping[str, Any]) -> int:
    if task.kw.until is None:
        return 0
    if task.kw.retries is None:
        return 3
    return int(templar.render(task.kw.retries, variables))


def _apply_overrides(task: Task, templar: Templar, variables: Variables, result: TaskResult) -> None:
    """changed_when / failed_when, evaluated with the task's own result registered."""
    if task.kw.changed_when is None and task.kw.failed_when is None:
        return
    scope = variables.with_layer({task.kw.register_as: result.registered()} if task.kw.register_as else {})
    if task.kw.changed_when is not None and result.status in ("ok", "changed"):
        result.status = "changed" if _cond_value(templar, task.kw.changed_when, scope) else "ok"
    if task.kw.failed_when is not None and result.status != "skipped":
        failed = _cond_value(templar, task.kw.failed_when, scope)
        if failed and result.status != "failed":
            result.status = "failed"
            result.msg = result.msg or "failed_when condition is true"
        elif not failed and result.status == "failed":
            result.status = "ok"


def _record(task: Task, hs: HostState, env: RunEnv, result: TaskResult) -> None:
    """register, pending marks under --check, notify."""
    if task.kw.register_as:
        hs.persistent[task.kw.register_as] = result.registered()
        if env.check and (result.status == "changed" or result.msg.startswith("not run under --check")):
            hs.pending_registers.add(task.kw.register_as)
        else:
            hs.pending_registers.discard(task.kw.register_as)
    if env.check and result.status == "changed":
        hs.pending_check = True
    if result.status == "changed":
        for n in task.kw.notify:
            if n not in hs.notified:
                hs.notified.append(n)
