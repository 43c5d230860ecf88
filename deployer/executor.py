"""Plays x host batches (serial) x tasks, linear strategy, bounded thread pool.

Each batch runs task k on all its live hosts before task k+1. Workers run
:func:`deployer.taskrun.run_task` and return results; only the main thread
hands them to the event sink, so worker threads never print. A failed or
unreachable host leaves the play (and the run) without stopping the others;
``max_fail_percentage`` (strictly exceeded, per batch) and
``any_errors_fatal`` stop the play for everyone. Handlers run at the end of
each batch, once, on the hosts that notified them.
"""

from __future__ import annotations

import math
import queue
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from deployer.connection import Connection
from deployer.errors import DeployerError
from deployer.facts.model import HostFacts
from deployer.inventory import Inventory
from deployer.playbook import Play, Playbook, Task
from deployer.results import Redactor, RunReport, TaskResult
from deployer.ssh import SSHConnector
from deployer.targets import ConnectOptions
from deployer.taskrun import HostState, RunEnv, run_task
from deployer.templating import Templar


@dataclass
class RunOptions:
    """How to run: the command line's choices."""

    check: bool = False
    diff: bool = False
    forks: int = 10
    limit: str | None = None
    tags: set[str] = field(default_factory=set)
    skip_tags: set[str] = field(default_factory=set)
    extra_vars: dict[str, Any] = field(default_factory=dict)
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    preset_facts: dict[str, HostFacts] | None = None  # --facts: plan without contacting hosts
    verbosity: int = 0


class Events(Protocol):
    """What the executor reports; called on the main thread only."""

    def play_start(self, play: Play, hosts: list[str]) -> None: ...
    def task_start(self, task: Task, handler: bool) -> None: ...
    def host_result(self, result: TaskResult) -> None: ...
    def progress(self, host: str, done: int, total: int, label: str) -> None: ...
    def notice(self, message: str) -> None: ...


def batches(hosts: list[str], serial: Any) -> list[list[str]]:
    """Split hosts by `serial`: None = all at once; 2; "30%"; [1, 5, "50%"] (last repeats)."""
    if serial in (None, 0, "0", "100%"):
        return [hosts] if hosts else []
    sizes = serial if isinstance(serial, list) else [serial]
    if not sizes:
        return [hosts] if hosts else []
    out: list[list[str]] = []
    i = 0
    k = 0
    while i < len(hosts):
        spec = sizes[min(k, len(sizes) - 1)]
        n = _batch_size(spec, len(hosts))
        out.append(hosts[i : i + n])
        i += n
        k += 1
    return out


def _batch_size(spec: int | str, total: int) -> int:
    if isinstance(spec, str) and spec.strip().endswith("%"):
        pct = float(spec.strip()[:-1])
        return max(1, int(math.floor(total * pct / 100.0)))
    return max(1, int(spec))


def selected(task: Task, play: Play, tags: set[str], skip: set[str]) -> bool:
    """--tags / --skip-tags, with Ansible's `always` and `never`."""
    own = set(task.kw.tags) | set(play.kw.tags)
    if own & skip or ("always" in own and "always" in skip):
        return False
    if "always" in own:
        return True
    if "never" in own:
        return bool(own & tags)
    if not tags or "all" in tags:
        return True
    return bool(own & tags) or ("untagged" in tags and not own)


class Executor:
    """Runs playbooks against an inventory; one instance per run."""

    def __init__(
        self,
        playbooks: list[Playbook],
        inventory: Inventory,
        options: RunOptions,
        events: Events,
        gather: Callable[[Connection], HostFacts],
        redactor: Redactor | None = None,
    ) -> None:
        self.playbooks = playbooks
        self.inventory = inventory
        self.options = options
        self.events = events
        self.report = RunReport(check_mode=options.check)
        self.redactor = redactor or Redactor()
        self.redactor.add_vars(options.extra_vars)
        if options.connect.become_password:
            self.redactor.add(options.connect.become_password)
        self.templar = Templar()
        self.connector = SSHConnector()
        self.hosts: dict[str, HostState] = {}
        self._progress: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.gather = gather

    def _state(self, name: str) -> HostState:
        hs = self.hosts.get(name)
        if hs is None:
            hv = self.inventory.host_vars(name)
            self.redactor.add_vars(hv)
            hs = HostState(name, hv, self.inventory.group_names(name))
            self.hosts[name] = hs
        return hs

    def run(self) -> RunReport:
        """Run every play; returns the report (also when interrupted: report.interrupted)."""
        # every inventory host is in `hostvars` from the start (a front door reads its
        # backends' addresses even when no play has targeted them yet)
        for name in self.inventory.hosts:
            self._state(name)
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.forks), thread_name_prefix="deployer")
        try:
            for pb in self.playbooks:
                for play in pb.plays:
                    if self._stop.is_set():
                        break
                    self._run_play(pb, play, pool)
        except KeyboardInterrupt:
            self.report.interrupted = True
            self._interrupt()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._close()
        return self.report

    def _interrupt(self) -> None:
        self._stop.set()
        for hs in self.hosts.values():
            if hs.connection is not None:
                hs.connection.interrupt()

    def _close(self) -> None:
        for hs in self.hosts.values():
            if hs.connection is not None:
                hs.connection.close()
        self.connector.close()

    def _run_play(self, pb: Playbook, play: Play, pool: ThreadPoolExecutor) -> None:
        names = self.inventory.select(play.pattern)
        if self.options.limit:
            allowed = set(self.inventory.select(self.options.limit))
            names = [n for n in names if n in allowed]
        states = [self._state(n) for n in names]
        live = [hs.name for hs in states if hs.live]
        for n in live:
            self.report.ensure_host(n)
        self.events.play_start(play, live)
        if not live:
            self.events.notice(f"play '{play.name}': no hosts matched (pattern {play.pattern!r})")
            return
        env = RunEnv(
            templar=self.templar,
            hosts=self.hosts,
            groups=self.inventory.groups_map(),
            extra_vars=self.options.extra_vars,
            check=self.options.check,
            diff=self.options.diff,
            connect=self.options.connect,
            connector=self.connector,
            redactor=self.redactor,
            gather=self.gather,
            preset_facts=self.options.preset_facts,
            play=play,
            play_hosts=live,
            base_dir=pb.base_dir,
            progress_sink=lambda h, d, t, label: self._progress.put((h, d, t, label)),
            verbosity=self.options.verbosity,
            stop=self._stop,
        )
        tasks = [t for t in play.tasks if selected(t, play, self.options.tags, self.options.skip_tags)]
        all_batches = batches(live, play.kw.serial)
        for i, batch in enumerate(all_batches):
            env.batch = batch
            reasons = len(self.report.aborted)
            ok = self._run_batch(play, tasks, batch, env, pool)
            if not ok or self._stop.is_set():
                if not ok and i + 1 < len(all_batches) and len(self.report.aborted) == reasons and not self._stop.is_set():
                    # the hosts of the later batches were never started
                    self.report.aborted.append(f"play '{play.name}': every host of a batch failed; {len(all_batches) - i - 1} later batch(es) not run")
                break

    def _run_batch(self, play: Play, tasks: list[Task], batch: list[str], env: RunEnv, pool: ThreadPoolExecutor) -> bool:
        """Run the tasks then the handlers on one batch; False = stop the play."""
        for hs_name in batch:
            self.hosts[hs_name].notified.clear()
        for task in tasks:
            hosts = [h for h in batch if self.hosts[h].live]
            if not hosts:
                return False
            if task.kw.run_once:
                hosts = hosts[:1]
            self.events.task_start(task, handler=False)
            results = self._run_on(task, hosts, env, pool)
            if self._stop.is_set():
                return False
            failed = [r.host for r in results if r.failed or r.status == "unreachable"]
            if failed and play.kw.any_errors_fatal:
                self._fail_all(batch, f"any_errors_fatal: {', '.join(failed)} failed '{task.name}'")
                return False
            if play.kw.max_fail_percentage is not None:
                bad = sum(1 for h in batch if not self.hosts[h].live)
                if bad * 100.0 / len(batch) > play.kw.max_fail_percentage:
                    self.report.aborted.append(
                        f"play '{play.name}': {bad} of {len(batch)} hosts failed, more than max_fail_percentage "
                        f"{play.kw.max_fail_percentage:g}%"
                    )
                    return False
        self._run_handlers(play, batch, env, pool)
        return True

    def _fail_all(self, batch: list[str], reason: str) -> None:
        self.report.aborted.append(reason)
        for h in batch:
            self.hosts[h].failed = self.hosts[h].failed or self.hosts[h].live

    def _run_handlers(self, play: Play, batch: list[str], env: RunEnv, pool: ThreadPoolExecutor) -> None:
        for handler in play.handlers:
            names = {handler.kw.name, *handler.kw.listen} - {None}
            hosts = [h for h in batch if self.hosts[h].live and names & set(self.hosts[h].notified)]
            if not hosts:
                continue
            self.events.task_start(handler, handler=True)
            self._run_on(handler, hosts, env, pool)

    def _run_on(self, task: Task, hosts: list[str], env: RunEnv, pool: ThreadPoolExecutor) -> list[TaskResult]:
        futures: dict[Future, str] = {pool.submit(run_task, task, self.hosts[h], env): h for h in hosts}
        done_results: dict[str, TaskResult] = {}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            self._drain_progress()
            for f in done:
                r = f.result()
                hs = self.hosts[r.host]
                if r.status == "unreachable":
                    hs.unreachable = True
                elif r.failed:
                    hs.failed = True
                self.report.add(r)
                self.events.host_result(r)
                done_results[r.host] = r
        self._drain_progress()
        self._run_deferred(task, env, pool)
        return [done_results[h] for h in hosts if h in done_results]

    def _run_deferred(self, task: Task, env: RunEnv, pool: ThreadPoolExecutor) -> None:
        """What modules put off until every host finished the task (TaskContext.defer)."""
        work = env.take_deferred()
        if not work or self._stop.is_set():
            return

        def attempt(host: str, fn: Callable[[], None]) -> str | None:
            try:
                fn()
            except DeployerError as exc:
                return f"{host}: clean-up after '{task.name}' failed: {self.redactor.text(str(exc))}"
            return None

        for f in [pool.submit(attempt, host, fn) for host, fn in work]:
            if (msg := f.result()) is not None:
                self.events.notice(msg)

    def _drain_progress(self) -> None:
        while True:
            try:
                h, d, t, label = self._progress.get_nowait()
            except queue.Empty:
                return
            self.events.progress(h, d, t, label)

