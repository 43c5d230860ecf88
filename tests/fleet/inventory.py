"""Ansible inventories (INI or YAML) for a test fleet."""

from __future__ import annotations

import re
import shlex
from typing import Any, Mapping, Sequence

import yaml

_PLAIN = re.compile(r"^[A-Za-z0-9_./:@,+=-]+$")


def _ini_value(value: Any, on_host_line: bool) -> str:
    """One value as Ansible's INI parser reads it back: host lines are split
    with shlex, [group:vars] values go through ast.literal_eval."""
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and _PLAIN.match(value)):
        return str(value)
    if on_host_line:
        return shlex.quote(value if isinstance(value, str) else repr(value))
    return repr(value)


def render_inventory(
    fmt: str,
    hosts: Mapping[str, Mapping[str, Any]],
    group_vars: Mapping[str, Any],
    groups: Mapping[str, Sequence[str]],
) -> str:
    """Text of an inventory with group `fleet` (`hosts` with their vars,
    `group_vars` as its vars) and extra `groups` of those hosts."""
    for group, members in groups.items():
        stray = [m for m in members if m not in hosts]
        if stray:
            raise ValueError(f"group {group!r}: hosts {stray} are not in the inventory")
    if fmt == "yaml":
        children: dict[str, Any] = {"fleet": {"hosts": {h: dict(v) for h, v in hosts.items()}, "vars": dict(group_vars)}}
        for group, members in groups.items():
            children[group] = {"hosts": {m: None for m in members}}
        return yaml.safe_dump({"all": {"children": children}}, sort_keys=False)
    if fmt != "ini":
        raise ValueError(f"inventory format {fmt!r}: want 'ini' or 'yaml'")
    lines = ["[fleet]"]
    for name, variables in hosts.items():
        lines.append(" ".join([name] + [f"{k}={_ini_value(v, True)}" for k, v in variables.items()]))
    lines += ["", "[fleet:vars]"] + [f"{k}={_ini_value(v, False)}" for k, v in group_vars.items()]
    for group, members in groups.items():
        lines += ["", f"[{group}]", *members]
    return "\n".join(lines) + "\n"
