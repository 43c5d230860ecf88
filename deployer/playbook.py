"""Playbook YAML -> validated plays and tasks.

A playbook is a list of plays; a task is one module key plus keywords, as in
Ansible. Validation is complete before any host is touched: unknown keys (with
"did you mean"), wrong types, unknown modules, module arguments that are wrong
even before templating, and missing files are each reported as
``path:line:col: what is wrong (how to fix it)``. All errors of a playbook are
collected and reported together.

Plays may also describe the LLM stack (``ollama:``, ``models:``, ``frontend:``,
``verify:``). Modules register an expander for such a key with
:func:`register_stack_key`; it turns the key's value into ordinary tasks, which
run after ``pre_tasks`` and before ``tasks`` and show in --list-tasks, --check
and the recap like any other task.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deployer import modules, yamlload
from deployer.errors import InputError, InputErrors, Location, did_you_mean
from deployer.modules.base import Module
from deployer.schema_errors import prevalidate, validation_errors
from deployer.templating import is_template

TASK_KEYWORDS = {
    "name", "when", "loop", "with_items", "loop_control", "register", "notify", "tags", "become",
    "become_user", "ignore_errors", "changed_when", "failed_when", "retries", "delay", "until",
    "no_log", "vars", "args", "environment", "listen", "run_once",
}  # fmt: skip
PLAY_KEYWORDS = {
    "name", "hosts", "vars", "vars_files", "become", "become_user", "gather_facts", "serial",
    "max_fail_percentage", "any_errors_fatal", "pre_tasks", "tasks", "post_tasks", "handlers",
    "tags", "environment",
}  # fmt: skip
#: Ansible keywords deployer does not implement: a clear error beats a silent ignore.
UNSUPPORTED = {
    "block": "blocks are not supported yet: list the tasks directly, with `when:` on each",
    "rescue": "blocks are not supported yet",
    "always": "blocks are not supported yet",
    "roles": "roles are not supported: list the tasks, or use import_tasks",
    "include_role": "roles are not supported: use import_tasks",
    "import_role": "roles are not supported: use import_tasks",
    "delegate_to": "delegate_to is not supported: target the host in its own play",
    "check_mode": "check_mode is not supported: under --check no task may change a host",
    "strategy": "only the linear strategy exists",
    "connection": "set ansible_connection in the inventory instead",
    "import_playbook": "import_playbook is not supported: pass several playbooks to `deployer run`",
}


class _Keywords(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


Cond = str | bool | list[str | bool]


class LoopControl(_Keywords):
    loop_var: str = "item"
    label: str | None = None
    index_var: str | None = None


class TaskKeywords(_Keywords):
    """Everything on a task besides its module."""

    name: str | None = None
    when: Cond | None = None
    loop: str | list[Any] | None = None
    with_items: str | list[Any] | None = None
    loop_control: LoopControl = Field(default_factory=LoopControl)
    register_as: str | None = Field(None, alias="register", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    notify: list[str] = Field(default_factory=list)
    listen: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    become: bool | None = None
    become_user: str | None = None
    ignore_errors: bool | str = False
    changed_when: Cond | None = None
    failed_when: Cond | None = None
    retries: int | str | None = None
    delay: float | str = 5
    until: Cond | None = None
    no_log: bool | str = False
    vars: dict[str, Any] = Field(default_factory=dict)
    args: dict[str, Any] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    run_once: bool = False

    @field_validator("notify", "listen", "tags", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [t.strip() for t in v.split(",")] if v and "," in v else [v]
        return v


@dataclass
class Task:
    """A validated task: a module with (possibly templated) arguments and its keywords."""

    action: str
    module: type[Module]
    args: dict[str, Any]
    kw: TaskKeywords
    location: Location
    origin: str | None = None  # the stack key that generated it, if any

    @property
    def name(self) -> str:
        return self.kw.name or self.action

    @property
    def loop(self) -> str | list[Any] | None:
        return self.kw.loop if self.kw.loop is not None else self.kw.with_items


SerialT = int | str | list[int | str] | None


class PlayKeywords(_Keywords):
    name: str | None = None
    hosts: str | list[str]
    vars: dict[str, Any] = Field(default_factory=dict)
    vars_files: list[str] = Field(default_factory=list)
    become: bool = False
    become_user: str | None = None
    gather_facts: bool = True
    serial: SerialT = None
    max_fail_percentage: float | None = Field(None, ge=0, le=100)
    any_errors_fatal: bool = False
    tags: list[str] = Field(default_factory=list)
    environment: dict[str, Any] = Field(default_factory=dict)

    @field_validator("vars_files", "tags", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


@dataclass
class Play:
    kw: PlayKeywords
    tasks: list[Task]
    handlers: list[Task]
    location: Location
    vars_from_files: dict[str, Any] = field(default_factory=dict)
    raw: Any = None  # the play's YAML mapping, for positions in later checks

    @property
    def name(self) -> str:
        return self.kw.name or (self.kw.hosts if isinstance(self.kw.hosts, str) else ",".join(self.kw.hosts))

    @property
    def pattern(self) -> str:
        return self.kw.hosts if isinstance(self.kw.hosts, str) else ":".join(self.kw.hosts)


@dataclass
class Playbook:
    path: Path
    plays: list[Play]

    @property
    def base_dir(self) -> Path:
        return self.path.parent


#: key -> (order, expander(value, play_raw, location) -> list of raw task dicts)
StackExpander = Callable[[Any, dict, Location], list[dict]]
_STACK: dict[str, tuple[int, StackExpander]] = {}


def register_stack_key(key: str, order: int, expander: StackExpander) -> None:
    """Let a play-level key (``ollama:``, ``models:``...) expand into tasks."""
    _STACK[key] = (order, expander)


def stack_keys() -> list[str]:
    modules.names()  # importing the modules registers their stack keys
    return sorted(_STACK, key=lambda k: _STACK[k][0])


# -- parsing ---------------------------------------------------------------


def load(path: str | Path, extra_vars: dict[str, Any] | None = None) -> Playbook:
    """Load and validate a playbook file; raises InputError(s) with positions."""
    p = Path(path)
    data = yamlload.load_file(p)
    errors: list[InputError] = []
    if not isinstance(data, list):
        raise InputError(
            "a playbook must be a list of plays",
            getattr(data, "loc", None) or Location(str(p)),
            "start each play with '- name: ...' and 'hosts: ...'",
        )
    plays = []
    for i, raw in enumerate(data):
        try:
            plays.append(_parse_play(raw, p, data.item_locs[i], errors))
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return Playbook(p, plays)


def _parse_play(raw: Any, path: Path, loc: Location, errors: list[InputError]) -> Play:
    if not isinstance(raw, dict):
        raise InputError("a play must be a mapping with at least 'hosts:'", loc)
    loc = getattr(raw, "loc", loc)
    stack = stack_keys()
    for key in raw:
        if key in UNSUPPORTED:
            errors.append(InputError(f"'{key}' is not supported", yamlload.key_location(raw, key), UNSUPPORTED[key]))
        elif key not in PLAY_KEYWORDS and key not in stack:
            hint = did_you_mean(str(key), PLAY_KEYWORDS | set(stack)) or "a play takes: " + ", ".join(sorted(PLAY_KEYWORDS | set(stack)))
            errors.append(InputError(f"unknown play key '{key}'", yamlload.key_location(raw, key), hint))
    kw_raw = {k: v for k, v in raw.items() if k in PLAY_KEYWORDS and k not in ("pre_tasks", "tasks", "post_tasks", "handlers")}
    try:
        kw = PlayKeywords.model_validate(kw_raw)
    except ValidationError as exc:
        for e in validation_errors(exc, raw, loc):
            if "missing required key 'hosts'" in e.message:
                e.hint = "add 'hosts: all' or a group name"
            errors.append(e)
        kw = PlayKeywords(hosts="all")
    vars_from_files: dict[str, Any] = {}
    for i, vf in enumerate(kw.vars_files):
        if is_template(vf):
            errors.append(InputError(f"vars_files entry {vf!r} is templated", yamlload.locate(raw, ["vars_files", i], loc), "give a plain path"))
            continue
        vpath = (path.parent / vf) if not Path(vf).is_absolute() else Path(vf)
        try:
            content = yamlload.load_file(vpath)
        except InputError as exc:
            if "file not found" in exc.message:
                exc = InputError(f"vars file {vf!r} not found (looked at {vpath})", yamlload.locate(raw, ["vars_files", i], loc), "fix the path; it is relative to the playbook")
            errors.append(exc)
            continue
        if content is None:
            continue
        if not isinstance(content, dict):
            errors.append(InputError("a vars file must be a mapping of names to values", getattr(content, "loc", Location(str(vpath)))))
            continue
        vars_from_files.update(content)

    tasks: list[Task] = []
    tasks += _parse_task_list(raw, "pre_tasks", path, errors)
    for key in stack:
        if key in raw:
            order, expander = _STACK[key]
            kloc = yamlload.key_location(raw, key) or loc
            try:
                generated = expander(raw[key], raw, kloc)
            except InputError as exc:
                errors.append(exc)
                continue
            for t in generated:
                try:
                    task = _parse_task(t, path, kloc, errors)
                except InputError as exc:
                    errors.append(exc)
                    continue
                if task:
                    task.origin = key
                    tasks.append(task)
    tasks += _parse_task_list(raw, "tasks", path, errors)
    tasks += _parse_task_list(raw, "post_tasks", path, errors)
    handlers = _parse_task_list(raw, "handlers", path, errors)
    _check_notify(tasks, handlers, errors)
    return Play(kw, tasks, handlers, loc, vars_from_files, raw)


def _parse_task_list(play_raw: dict, key: str, path: Path, errors: list[InputError], seen: tuple[Path, ...] = ()) -> list[Task]:
    items = play_raw.get(key)
    if items is None:
        return []
    kloc = yamlload.key_location(play_raw, key) or Location(str(path))
    if not isinstance(items, list):
        errors.append(InputError(f"'{key}' must be a list of tasks", kloc, "start each task with '- name: ...'"))
        return []
    out: list[Task] = []
    for i, raw in enumerate(items):
        tloc = items.item_locs[i] if isinstance(items, yamlload.YList) else kloc
        if isinstance(raw, dict) and ("import_tasks" in raw or "include_tasks" in raw):
            out += _import_tasks(raw, path, tloc, errors, seen)
            continue
        try:
            task = _parse_task(raw, path, tloc, errors)
        except InputError as exc:
            errors.append(exc)
            continue
        if task:
            out.append(task)
    return out


def _import_tasks(raw: dict, path: Path, loc: Location, errors: list[InputError], seen: tuple[Path, ...]) -> list[Task]:
    """Static include of a task file (import_tasks; include_tasks is treated the same way)."""
    key = "import_tasks" if "import_tasks" in raw else "include_tasks"
    extra = set(raw) - {key, "name", "tags", "when"}
    if extra:
        errors.append(InputError(f"{key} takes only name, tags and when (got {', '.join(sorted(extra))})", loc))
    target = raw[key]
    if not isinstance(target, str) or is_template(target):
        errors.append(InputError(f"{key} needs a plain file path", loc))
        return []
    tpath = (path.parent / target).resolve()
    if tpath in seen:
        errors.append(InputError(f"{key} {target!r} includes itself", loc))
        return []
    try:
        data = yamlload.load_file(tpath)
    except InputError as exc:
        errors.append(InputError(f"{key}: {exc.message} ({tpath})", loc, "the path is relative to the file that imports it"))
        return []
    tasks = _parse_task_list({"tasks": data}, "tasks", tpath, errors, (*seen, tpath))
    for t in tasks:
        if raw.get("tags"):
            t.kw.tags.extend([raw["tags"]] if isinstance(raw["tags"], str) else raw["tags"])
        if raw.get("when") is not None:
            own = t.kw.when
            t.kw.when = [raw["when"], *(own if isinstance(own, list) else ([] if own is None else [own]))]
    return tasks


def _free_form(module: type[Module], value: str) -> dict[str, Any]:
    """`command: ls -l` -> {cmd: "ls -l"}; `copy: src=a dest=b` -> {src: a, dest: b}."""
    if module.free_form:
        return {module.free_form: value}
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise InputError(f"cannot split {value!r}: {exc}")
    args: dict[str, Any] = {}
    for w in words:
        k, sep, v = w.partition("=")
        if not sep:
            raise InputError(f"'{w}' is not key=value", hint=f"write the arguments of {module.name} as a mapping")
        args[k] = v
    return args


def _parse_task(raw: Any, path: Path, loc: Location, errors: list[InputError]) -> Task | None:
    if not isinstance(raw, dict):
        raise InputError("a task must be a mapping: a module key plus keywords", loc, "e.g. '- name: say hi' / '  debug: {msg: hi}'")
    loc = getattr(raw, "loc", None) or loc
    module_keys = []
    for key in raw:
        if key in TASK_KEYWORDS:
            continue
        if key in UNSUPPORTED:
            errors.append(InputError(f"'{key}' is not supported", yamlload.key_location(raw, key), UNSUPPORTED[key]))
            return None
        if modules.lookup(str(key)) is None:
            hint = did_you_mean(modules.canonical(str(key)), set(modules.names()) | TASK_KEYWORDS)
            errors.append(InputError(f"unknown module or task keyword '{key}'", yamlload.key_location(raw, key), hint or "see `deployer modules` for the list"))
            return None
        module_keys.append(key)
    if not module_keys:
        raise InputError("task has no module", loc, "add one module key, e.g. 'command:', 'copy:', 'debug:'")
    if len(module_keys) > 1:
        raise InputError(f"task has several modules: {', '.join(module_keys)}", yamlload.key_location(raw, module_keys[1]), "one module per task")
    key = module_keys[0]
    module = modules.lookup(key)
    assert module is not None
    kw_raw = {k: v for k, v in raw.items() if k in TASK_KEYWORDS}
    try:
        kw = TaskKeywords.model_validate(kw_raw)
    except ValidationError as exc:
        errors.extend(validation_errors(exc, raw, loc))
        return None
    if kw.loop is not None and kw.with_items is not None:
        errors.append(InputError("use either loop or with_items, not both", yamlload.key_location(raw, "with_items")))
    value = raw[key]
    arg_loc = yamlload.key_location(raw, key) or loc
    if value is None:
        args: dict[str, Any] = {}
    elif isinstance(value, str) and not (is_template(value) and not module.free_form and "=" not in value):
        try:
            args = _free_form(module, value)
        except InputError as exc:
            raise InputError(exc.message, arg_loc, exc.hint)
    elif isinstance(value, dict):
        args = value
    else:
        raise InputError(f"arguments of {module.name} must be a mapping (got {type(value).__name__})", arg_loc)
    if kw.args:
        args = {**kw.args, **args}
    prevalidate(module.Args, module.name, args, value if isinstance(value, dict) else None, arg_loc, errors)
    return Task(action=module.name, module=module, args=args, kw=kw, location=loc)


def _check_notify(tasks: list[Task], handlers: list[Task], errors: list[InputError]) -> None:
    names = {h.kw.name for h in handlers if h.kw.name} | {ln for h in handlers for ln in h.kw.listen}
    for t in tasks:
        for n in t.kw.notify:
            if n not in names and not is_template(n):
                hint = did_you_mean(n, names) or ("define it under handlers:" if names else "this play has no handlers")
                errors.append(InputError(f"notify names no handler: '{n}'", t.location, hint))

