"""What a playbook needs on each host it targets, computed with the run's own code.

For every play, every host it targets (``--limit`` applied) and every task of
``ollama_install``, ``ollama_service``, ``ollama_model`` and ``open_webui``
(those the play's ``ollama:``, ``models:`` and ``frontend:`` keys expand into,
and hand-written ones), the task's arguments are rendered with the host's
variables exactly as the executor does (deployer.taskrun.RunEnv, facts from a
probe or a ``deployer facts -o`` file), validated by the module's own schema,
and turned into needs (plan_tasks.py):

- the Ollama release archives for the host's architecture, plus the rocm one
  where AMD GPUs were seen (deployer.ollama.sources.choose);
- the model tag ``size: auto`` picks on that host (deployer.ollama.models.resolve),
  or every tag it could pick (``all_candidates``);
- the Open WebUI image or wheelhouse.

Nothing is contacted here. A task whose ``when:`` renders false is skipped;
one whose condition cannot be evaluated before the run (it reads a registered
result) counts as needed. What cannot be planned for a host is in its
``errors``, and the other hosts are planned anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from pydantic import ValidationError

from deployer.connection import Become
from deployer.errors import DeployerError
from deployer.facts.model import HostFacts
from deployer.inventory import Inventory
from deployer.ollama.config import OllamaConfig
from deployer.ollama.registry import ModelName
from deployer.openwebui.config import OpenWebUIArgs
from deployer.playbook import Play, Playbook, Task
from deployer.results import Redactor
from deployer.ssh import SSHConnector
from deployer.stage.releases import ReleaseItem
from deployer.targets import ConnectOptions, become_for
from deployer.taskrun import HostNotContacted, HostState, RunEnv
from deployer.templating import Templar, TemplateError
from deployer.variables import Variables

ACTIONS = ("ollama_install", "ollama_service", "ollama_model", "open_webui")


@dataclass(frozen=True)
class ReleaseNeed:
    """An Ollama release archive a host gets; `local` is where the play's source says it is."""

    item: ReleaseItem
    url: str  # the release download base (the play's source.url)
    local: Path | None = None  # None: the play downloads online (source.online)
    sums: Path | None = None


@dataclass(frozen=True)
class ModelNeed:
    """A model tag a host gets, and where the play looks for its bundle."""

    name: ModelName
    source: str  # pull | bundle
    bundles: Path
    fallback: bool
    reason: str = field(compare=False)
    size: int | None = field(default=None, compare=False)
    models_dir: str = field(default="", compare=False)  # OLLAMA_MODELS on the host


@dataclass(frozen=True)
class ImageNeed:
    """The Open WebUI image (docker mode); `tarball` is the play's image_tarball."""

    ref: str
    tarball: Path | None


@dataclass(frozen=True)
class WheelNeed:
    """An Open WebUI wheelhouse (pip mode) for one platform; `wheelhouse` is the play's."""

    version: str | None
    arch: str
    glibc: str | None
    wheelhouse: Path | None


@dataclass
class HostPlan:
    """Everything one host needs, as the playbook says."""

    host: str
    facts: HostFacts | None
    releases: list[ReleaseNeed] = field(default_factory=list)
    models: list[ModelNeed] = field(default_factory=list)
    images: list[ImageNeed] = field(default_factory=list)
    wheels: list[WheelNeed] = field(default_factory=list)
    installs: list[OllamaConfig] = field(default_factory=list)
    services: list[OllamaConfig] = field(default_factory=list)
    frontends: list[OpenWebUIArgs] = field(default_factory=list)
    models_dirs: list[str] = field(default_factory=list)  # of the model tasks, known before their tags
    pulls: bool = False  # a model task pulls from the registry on the host (source: pull or fallback_to_bundle)
    become: Become | None = None  # whom the play's tasks become (sudo), the first that does
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, bucket: list, item: Any) -> None:
        if item not in bucket:
            bucket.append(item)


@dataclass
class Plan:
    """Per-host plans, in inventory order."""

    hosts: dict[str, HostPlan] = field(default_factory=dict)

    @property
    def errors(self) -> dict[str, list[str]]:
        return {h: hp.errors for h, hp in self.hosts.items() if hp.errors}


def targeted(books: Sequence[Playbook], inventory: Inventory, limit: str | None = None) -> list[str]:
    """The hosts of plays that install or configure something staging is about, in inventory order."""
    names: list[str] = []
    for book in books:
        for play in book.plays:
            if any(t.action in ACTIONS for t in play.tasks):
                for n in inventory.select(play.pattern, limit):
                    if n not in names:
                        names.append(n)
    return names


def make_plan(books: Sequence[Playbook], inventory: Inventory, extra_vars: Mapping[str, Any],
              facts: Mapping[str, HostFacts], limit: str | None = None, all_candidates: bool = False,
              connect: ConnectOptions | None = None) -> Plan:
    """The plan of `books` for their targeted hosts; `facts` may lack hosts (their errors say so)."""
    from deployer.stage import plan_tasks  # imports the modules (and their stack keys)

    plan = Plan()
    templar = Templar()
    states: dict[str, HostState] = {}
    for name in targeted(books, inventory, limit):
        states[name] = HostState(name, inventory.host_vars(name), inventory.group_names(name))
        plan.hosts[name] = HostPlan(name, facts.get(name))
    for book in books:
        for play in book.plays:
            hosts = [n for n in inventory.select(play.pattern, limit) if n in states]
            if not hosts or not any(t.action in ACTIONS for t in play.tasks):
                continue
            env = _env(templar, states, inventory, extra_vars, facts, play, hosts, book, connect or ConnectOptions())
            for name in hosts:
                hp = plan.hosts[name]
                _note_become(hp, play, states[name], connect or ConnectOptions())
                for task, variables in _task_variables(env, play, states[name], hp):
                    try:
                        args = task.module.Args.model_validate(templar.render(task.args, variables))
                        plan_tasks.add_needs(hp, task.action, args, variables, book.base_dir, all_candidates)
                    except (DeployerError, ValidationError) as exc:
                        hp.errors.append(f"{task.name}: {_text(exc)}")
    return plan


def _env(templar: Templar, states: dict[str, HostState], inventory: Inventory, extra_vars: Mapping[str, Any],
         facts: Mapping[str, HostFacts], play: Play, hosts: list[str], book: Playbook, connect: ConnectOptions) -> RunEnv:
    def no_gather(_conn: Any) -> HostFacts:
        raise AssertionError("planning never contacts a host")

    return RunEnv(templar=templar, hosts=states, groups=inventory.groups_map(), extra_vars=dict(extra_vars), check=True,
                  diff=False, connect=connect, connector=SSHConnector(), redactor=Redactor(), gather=no_gather,
                  preset_facts=dict(facts), play=play, play_hosts=hosts, batch=hosts, base_dir=book.base_dir)


def _note_become(hp: HostPlan, play: Play, hs: HostState, connect: ConnectOptions) -> None:
    if hp.become is not None:
        return
    for task in play.tasks:
        try:
            become = become_for(hs.inv_vars, task.kw.become, task.kw.become_user, play.kw.become, play.kw.become_user, connect)
        except DeployerError as exc:
            hp.errors.append(f"{task.name}: {exc}")
            return
        if become is not None:
            hp.become = become
            return


def _task_variables(env: RunEnv, play: Play, hs: HostState, hp: HostPlan) -> Iterator[tuple[Task, Variables]]:
    """(task, variables) for each relevant task and loop item whose `when` is not known to be false."""
    for task in play.tasks:
        if task.action not in ACTIONS:
            continue
        try:
            base = env.variables(hs, task.kw.vars)
            if task.loop is None:
                layers: list[Variables] = [base]
            else:
                items = env.templar.render(task.loop, base)
                if not isinstance(items, list):
                    raise TemplateError(f"loop must give a list, got {type(items).__name__}")
                lc = task.kw.loop_control
                layers = [base.with_layer({lc.loop_var: item, **({lc.index_var: i} if lc.index_var else {})})
                          for i, item in enumerate(items)]
        except DeployerError as exc:
            hp.errors.append(f"{task.name}: {_text(exc)}")
            continue
        for variables in layers:
            if task.kw.when is None or _may_run(env.templar, task.kw.when, variables):
                yield task, variables


def _may_run(templar: Templar, when: str | bool | list, variables: Variables) -> bool:
    """False only when `when` is known to be false now; a condition on what the run registers counts as true."""
    conditions = when if isinstance(when, list) else [when]
    texts = [str(c) for c in conditions if not isinstance(c, bool)]
    try:
        if any(name not in variables and name not in templar.env.globals
               for text in texts for name in templar.expression_variables(text.strip().removeprefix("{{").removesuffix("}}"))):
            return True
        return templar.condition(when, variables)
    except DeployerError:
        return True


def _text(exc: Exception) -> str:
    if isinstance(exc, HostNotContacted):
        return "its facts are unknown (unreachable, and not in the facts file)"
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg'].removeprefix('Value error, ')}" if where else err["msg"]
    return str(exc)
