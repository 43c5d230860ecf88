"""Checks that need the playbook and the inventory together, before any host is touched.

- every play's host pattern parses (a pattern that matches nothing is a warning);
- every template's root variables are defined somewhere: inventory, play vars,
  vars files, -e, a `register:` or `set_fact` of the playbook, a loop variable,
  or a magic name. Attribute access (`x.y`) is checked at run time.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from deployer import yamlload
from deployer.errors import InputError, InputErrors, Location, did_you_mean
from deployer.inventory import Inventory
from deployer.playbook import Play, Playbook, Task
from deployer.templating import Templar, is_template

MAGIC = {
    "inventory_hostname", "inventory_hostname_short", "group_names", "groups", "hostvars",
    "ansible_play_hosts", "ansible_play_hosts_all", "play_hosts", "ansible_play_batch",
    "ansible_check_mode", "ansible_diff_mode", "ansible_verbosity", "playbook_dir", "deployer_facts", "omit",
}  # fmt: skip


def _walk(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, (*path, i))


def _playbook_names(playbooks: Iterable[Playbook]) -> set[str]:
    """Names any task of the run may define: register targets and set_fact keys."""
    names: set[str] = set()
    for pb in playbooks:
        for play in pb.plays:
            for t in [*play.tasks, *play.handlers]:
                if t.kw.register_as:
                    names.add(t.kw.register_as)
                if t.action == "set_fact":
                    names |= {k for k in t.args if isinstance(k, str)}
                names |= set(getattr(t.module, "provides_vars", ()))
    return names


def check(playbooks: list[Playbook], inventory: Inventory, extra_vars: dict[str, Any], limit: str | None = None) -> list[str]:
    """Raise InputError(s) for problems; return warnings (e.g. a play that matches no host)."""
    templar = Templar()
    errors: list[InputError] = []
    warnings: list[str] = []
    inv_names: set[str] = set()
    for h in inventory.hosts:
        inv_names |= set(inventory.host_vars(h))
    defined = _playbook_names(playbooks)
    if limit:
        try:
            inventory.select(limit)
        except InputError as exc:
            errors.append(InputError(f"--limit: {exc.message}", None, exc.hint))
    for pb in playbooks:
        for play in pb.plays:
            try:
                if not inventory.select(play.pattern):
                    warnings.append(f"{play.location}: play '{play.name}' matches no host (hosts: {play.pattern})")
            except InputError as exc:
                errors.append(InputError(exc.message, yamlload.key_location(play.raw, "hosts") or play.location, exc.hint))
            known = MAGIC | inv_names | set(play.kw.vars) | set(play.vars_from_files) | set(extra_vars) | defined
            known |= set(templar.env.globals)
            for t in [*play.tasks, *play.handlers]:
                errors.extend(_check_task(templar, t, known))
            errors.extend(_check_play_vars(templar, play, known))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return warnings


def _check_play_vars(templar: Templar, play: Play, known: set[str]) -> list[InputError]:
    out = []
    for path, text in _walk(play.kw.vars):
        if is_template(text):
            try:
                templar.check_syntax(text, play.location)
                missing = templar.variables_of(text, required_only=True) - known
            except InputError as exc:
                out.append(exc)
                continue
            for name in sorted(missing):
                out.append(_undefined(name, known, play.location, f"play vars {'.'.join(map(str, path))}"))
    return out


def _undefined(name: str, known: set[str], loc: Location | None, where: str) -> InputError:
    hint = did_you_mean(name, {k for k in known if not k.startswith("ansible_")}) or "define it in the inventory, play vars, vars_files or with -e"
    return InputError(f"undefined variable '{name}' in {where}", loc, hint)


def _check_task(templar: Templar, task: Task, known: set[str]) -> list[InputError]:
    out: list[InputError] = []
    lc = task.kw.loop_control
    local = known | set(task.kw.vars) | {lc.loop_var} | ({lc.index_var} if lc.index_var else set())
    if task.kw.register_as:
        local.add(task.kw.register_as)
    fields: list[tuple[str, Any, Any]] = [("args", task.args, task.args)]
    for key in ("when", "loop", "with_items", "changed_when", "failed_when", "until", "no_log", "ignore_errors", "retries", "delay", "name"):
        value = getattr(task.kw, key)
        if value is None or isinstance(value, bool):
            continue
        if key in ("when", "changed_when", "failed_when", "until") and isinstance(value, (str, list)):
            exprs = value if isinstance(value, list) else [value]
            for e in exprs:
                if isinstance(e, str):
                    out.extend(_check_expr(templar, e, local, task, key))
            continue
        fields.append((key, value, None))
    for f in task.module.expression_fields:
        exprs = task.args.get(f)
        for e in exprs if isinstance(exprs, list) else [exprs]:
            if isinstance(e, str):
                out.extend(_check_expr(templar, e, local, task, f))
    fields.append(("vars", task.kw.vars, None))
    fields.append(("environment", task.kw.environment, None))
    for label, value, raw in fields:
        for path, text in _walk(value):
            if not is_template(text):
                continue
            loc = (yamlload.locate(raw, list(path), task.location) if raw is not None else None) or task.location
            try:
                templar.check_syntax(text, loc)
                missing = templar.variables_of(text, required_only=True) - local
            except InputError as exc:
                out.append(exc)
                continue
            where = f"task '{task.name}'" + (f" ({label} {'.'.join(map(str, path))})" if path else f" ({label})")
            out.extend(_undefined(n, local, loc, where) for n in sorted(missing))
    return out


def _check_expr(templar: Templar, expr: str, known: set[str], task: Task, key: str) -> list[InputError]:
    text = expr if is_template(expr) else "{{ " + expr + " }}"
    try:
        templar.check_syntax(text, task.location)
        missing = templar.variables_of(text, required_only=True) - known
    except InputError as exc:
        return [exc]
    return [_undefined(n, known, task.location, f"task '{task.name}' ({key})") for n in sorted(missing)]
