"""Ansible's INI inventory format.

::

    login ansible_host=10.0.0.2        # before any section: ungrouped
    [compute]                          # hosts of group 'compute'
    node[01:04]  ansible_user=deploy   # a range, with inline vars
    gpu1:2222                          # host:port -> ansible_port=2222
    [compute:vars]                     # one 'key=value' per line
    ollama_mode=system
    [cluster:children]                 # group names
    compute

Values, on host lines and in ``:vars`` sections alike, go through
``ast.literal_eval`` and stay strings when that fails: ``port=22`` is the
number 22, ``flag=True`` a boolean, ``v='03'`` the string "03". Ansible's
documentation says ``:vars`` values are strings, but ansible-core has always
parsed them this way; we follow what it does, so inventories mean the same.
Host lines are split like a shell line (quotes group words, ``#`` starts a
comment); a ``:vars`` line is ``key=value`` with everything after the first
``=`` the value. A group named in ``[g:children]`` or ``[g:vars]`` must be
declared with its own ``[g]`` or ``[g:children]`` section (it may be empty).
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from deployer.errors import InputError, Location, did_you_mean
from deployer.hostrange import expand_host_pattern
from deployer.inventory_build import InventoryBuilder

_SECTION = re.compile(r"^\[(?P<group>[^:\]\s]+)(?::(?P<kind>\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^(?P<group>[^:\]\s]+)\s*(?:#.*)?$")
_KINDS = ("hosts", "children", "vars")


def parse_value(text: str) -> Any:
    """An INI value: a Python literal if it is one, else the string itself."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_ini(builder: InventoryBuilder, text: str, path: str) -> None:
    """Add the groups, hosts and vars of an INI inventory to `builder`."""
    _IniParser(builder, path).parse(text)


class _IniParser:
    def __init__(self, builder: InventoryBuilder, path: str) -> None:
        self.b = builder
        self.path = path
        self.declared = set(builder.groups)  # groups known before this file count as declared
        self.pending_children: dict[str, tuple[Location, list[str]]] = {}
        self.vars_sections: dict[str, Location] = {}

    def loc(self, lineno: int, line: str, token: str = "") -> Location:
        col = line.find(token) + 1 if token and token in line else len(line) - len(line.lstrip()) + 1
        return Location(self.path, lineno, col)

    def parse(self, text: str) -> None:
        group, kind = "ungrouped", "hosts"
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            m = _SECTION.match(line)
            if m:
                group, kind = m.group("group"), m.group("kind") or "hosts"
                self.section(group, kind, lineno, raw)
            elif line.startswith("[") and line.endswith("]"):
                raise InputError(
                    f"invalid section header {line}",
                    self.loc(lineno, raw),
                    "write [group], [group:vars] or [group:children], without spaces",
                )
            elif kind == "hosts":
                self.host_line(group, lineno, raw)
            elif kind == "vars":
                self.var_line(group, lineno, raw)
            else:
                self.child_line(group, lineno, raw)
        self.check_pending()

    def section(self, group: str, kind: str, lineno: int, raw: str) -> None:
        if kind not in _KINDS:
            hint = did_you_mean(kind, _KINDS) or "use [group], [group:vars] or [group:children]"
            raise InputError(
                f"section [{group}:{kind}] has unknown suffix ':{kind}'", self.loc(lineno, raw, f":{kind}"), hint
            )
        self.b.add_group(group, self.loc(lineno, raw, group))
        if kind == "vars":
            self.vars_sections.setdefault(group, self.loc(lineno, raw))
            return
        self.declared.add(group)
        if group in self.pending_children:
            location, parents = self.pending_children.pop(group)
            for parent in parents:
                self.b.add_child(parent, group, location)

    def host_line(self, group: str, lineno: int, raw: str) -> None:
        try:
            tokens = shlex.split(raw, comments=True)
        except ValueError as exc:
            raise InputError(
                f"cannot split host line: {exc}", self.loc(lineno, raw), "close the quote, or escape it with a backslash"
            ) from None
        entry = tokens[0]
        where = self.loc(lineno, raw, entry)
        if entry.endswith(":"):
            raise InputError(
                f"host '{entry}' ends with ':'",
                where,
                "':' separates a port (host:2222); is this a YAML file? name it .yml or .yaml",
            )
        if entry == "---":
            raise InputError("'---' is not a host name", where, "this looks like YAML: name the file .yml or .yaml")
        names, port = expand_host_pattern(entry, where)
        variables: list[tuple[str, Any, Location]] = []
        for token in tokens[1:]:
            key, sep, value = token.partition("=")
            if not sep or not key:
                raise InputError(
                    f"expected key=value after host '{entry}', got '{token}'",
                    self.loc(lineno, raw, token),
                    "host variables are key=value; quote values with spaces: key='a b'",
                )
            variables.append((key, parse_value(value), self.loc(lineno, raw, f"{key}=")))
        for name in names:
            self.b.add_host(name, group, where, port)
            for key, value, vloc in variables:
                self.b.set_host_var(name, key, value, vloc)

    def var_line(self, group: str, lineno: int, raw: str) -> None:
        key, sep, value = raw.strip().partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                f"expected key=value in [{group}:vars], got '{raw.strip()}'",
                self.loc(lineno, raw),
                "one variable per line, e.g. ansible_user=deploy",
            )
        self.b.set_group_var(group, key, parse_value(value.strip()), self.loc(lineno, raw))

    def child_line(self, group: str, lineno: int, raw: str) -> None:
        m = _GROUP_NAME.match(raw.strip())
        if not m:
            raise InputError(
                f"expected a group name in [{group}:children], got '{raw.strip()}'",
                self.loc(lineno, raw),
                "list one group per line; hosts go in a [group] section",
            )
        child = m.group("group")
        where = self.loc(lineno, raw, child)
        if child in self.declared:
            self.b.add_child(group, child, where)
        elif child in self.pending_children:
            self.pending_children[child][1].append(group)
        else:
            self.pending_children[child] = (where, [group])

    def check_pending(self) -> None:
        problems: list[tuple[Location, str, str]] = []
        for child, (where, parents) in self.pending_children.items():
            problems.append((where, f"[{parents[0]}:children] names group '{child}', which is never declared", child))
        for group, where in self.vars_sections.items():
            if group not in self.declared:
                problems.append((where, f"[{group}:vars] is for group '{group}', which is never declared", group))
        if problems:
            where, message, name = min(problems, key=lambda p: p[0].line)
            known = sorted(self.declared - {"all", "ungrouped"})
            hint = did_you_mean(name, known) or f"add a [{name}] section (it may be empty) or fix the name"
            raise InputError(message, where, hint)
