"""Ansible-compatible inventories: load them, ask for a host's variables, select hosts.

Sources (``-i``, several merge in order):

- an INI file (:mod:`deployer.inventory_ini`) or a YAML/JSON file
  (:mod:`deployer.inventory_yaml`): ``.yml``/``.yaml``/``.json`` are YAML, a
  file without extension is YAML if it reads as a YAML mapping, else INI; any
  other file is INI;
- a directory: every file in it, sorted by name, subdirectories too, skipping
  hidden files, ``group_vars/``, ``host_vars/``, ``vars_plugins/`` and the
  extensions Ansible skips (``.md .txt .rst .cfg .bak .orig .retry .swp ~`` ...);
- a string with a comma that is not a path: ``-i 'web1,web2:2222,'``.

Next to each path source, ``group_vars/`` and ``host_vars/`` are read
(:mod:`deployer.inventory_vars`), and so are those under any `vars_dirs`
(Ansible also reads them next to the playbook), after the inventory's.

Variable precedence (low to high), the inventory part of Ansible's, for one host:

1. the inventory's vars of ``all`` (INI ``[all:vars]``, YAML ``all: vars:``)
2. the inventory's vars of the host's other groups, parents before children
3. ``group_vars/all``
4. ``group_vars/<group>`` of the host's other groups, parents before children
5. the host's inline vars (INI host line, YAML host entry)
6. ``host_vars/<host>``

"Parents before children" is by depth (longest distance from ``all``); groups
of one depth are ordered by ``ansible_group_priority`` (default 1), then by
name, and the later wins. Keep in mind that step 3 outranks step 2, as in
Ansible: ``group_vars/all.yml`` beats ``[compute:vars]`` in ``hosts.ini``.
Variables replace one another whole (Ansible's default ``hash_behaviour``).
Play vars, ``vars_files`` and ``-e`` are the executor's; magic variables
(``inventory_hostname``, ``groups``, ``group_names``) too, from
:meth:`Inventory.groups_map` and :meth:`Inventory.group_names`.

``localhost``, ``127.0.0.1`` and ``::1`` exist even when the inventory does not
list them: an implicit host with ``ansible_connection: local`` and the vars of
``all``, not a member of ``all`` (Ansible also sets
``ansible_python_interpreter``; deployer runs no Python on hosts, so it does not).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Sequence

from deployer import patterns
from deployer.errors import InputError, Location, did_you_mean
from deployer.inventory_build import Group, Host, InventoryBuilder, group_members
from deployer.inventory_ini import parse_ini
from deployer.inventory_vars import load_entity_vars
from deployer.inventory_yaml import parse_host_list, parse_yaml
from deployer.yamlload import loads

__all__ = ["Group", "Host", "Inventory", "load_inventory"]

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
_SKIP_NAMES = ("group_vars", "host_vars", "vars_plugins")
_SKIP_EXTENSIONS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry")


class Inventory:
    """A loaded inventory. `hosts` are in inventory order (Ansible's
    ``groups['all']``); `groups` include ``all`` and ``ungrouped``."""

    def __init__(
        self,
        groups: dict[str, Group],
        hosts: dict[str, Host],
        sources: list[str],
        vars_bases: list[Path],
        inventory_dir: Path | None,
    ) -> None:
        self.groups = groups
        self.hosts = hosts
        self.sources = sources  # as loaded: absolute paths, or the '-i a,b,' text
        self.vars_bases = vars_bases  # directories whose group_vars/ and host_vars/ were read, in order
        self.inventory_dir = inventory_dir  # the directory of the first path source, if any
        self._members = {name: group_members(groups, name) for name in groups}
        self._implicit: dict[str, Host] = {}

    def host(self, name: str) -> Host:
        """The host `name`; a localhost alias not in the inventory gives the implicit local host."""
        if name in self.hosts:
            return self.hosts[name]
        if name in patterns.LOCALHOST_NAMES:
            listed = next((h for h in self.hosts.values() if h.name in patterns.LOCALHOST_NAMES), None)
            return listed or self._implicit_localhost(name)
        hint = did_you_mean(name, self.hosts) or "list the hosts with: deployer inventory --list"
        raise InputError(f"host '{name}' is not in the inventory", None, hint)

    def _implicit_localhost(self, name: str) -> Host:
        if name not in self._implicit:
            file_vars, file_origins = load_entity_vars(self.vars_bases, "host_vars", name)
            self._implicit[name] = Host(
                name,
                vars={"ansible_connection": "local"},
                file_vars=file_vars,
                implicit=True,
                file_var_origins=file_origins,
            )
        return self._implicit[name]

    def _ancestors(self, host: Host) -> list[Group]:
        """Every group the host is in, directly or through children, sorted for precedence (no 'all')."""
        found: set[str] = set()
        todo = list(host.groups)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.groups[name].parents)
        found.discard("all")
        return sorted((self.groups[n] for n in found), key=lambda g: (g.depth, g.priority, g.name))

    def _layers(self, host: Host) -> list[tuple[dict[str, Any], dict[str, Location]]]:
        everyone = self.groups["all"]
        ancestors = self._ancestors(host)
        return [
            (everyone.vars, everyone.var_origins),
            *((g.vars, g.var_origins) for g in ancestors),
            (everyone.file_vars, everyone.file_var_origins),
            *((g.file_vars, g.file_var_origins) for g in ancestors),
            (host.vars, host.var_origins),
            (host.file_vars, host.file_var_origins),
        ]

    def host_vars(self, name: str) -> dict[str, Any]:
        """The host's inventory variables, merged in the precedence of the module docstring.

        A deep copy: the caller may change it without changing the inventory.
        """
        merged: dict[str, Any] = {}
        for values, _ in self._layers(self.host(name)):
            merged.update(values)
        return copy.deepcopy(merged)

    def var_origin(self, name: str, key: str) -> Location | None:
        """Where the value ``host_vars(name)[key]`` was defined, for error messages."""
        origin: Location | None = None
        for values, origins in self._layers(self.host(name)):
            if key in values:
                origin = origins.get(key)
        return origin

    def group_names(self, name: str) -> list[str]:
        """Ansible's ``group_names``: the host's groups, sorted, without ``all``
        (with ``ungrouped`` for an ungrouped host, as ansible-core does)."""
        return sorted(g.name for g in self._ancestors(self.host(name)))

    def groups_map(self) -> dict[str, list[str]]:
        """Ansible's ``groups``: every group to its hosts, children's included, in the group's order."""
        return {name: list(members) for name, members in self._members.items()}

    def select(
        self,
        pattern: str | Sequence[str],
        limit: str | Sequence[str] | None = None,
        location: Location | None = None,
    ) -> list[str]:
        """The hosts a pattern selects (see :mod:`deployer.patterns`), in inventory order,
        cut down to those `limit` (``--limit``) selects when given. Matching
        nothing gives []; a malformed pattern is an InputError at `location`."""
        chosen = patterns.select(pattern, list(self.hosts), self._members, location)
        if limit is not None:
            allowed = set(patterns.select(limit, list(self.hosts), self._members))
            chosen = [h for h in chosen if h in allowed]
        return chosen

    def to_ansible_list(self, export: bool = False) -> dict[str, Any]:
        """What ``ansible-inventory --list`` (``--export``) prints, as data.

        Every non-empty group with its direct ``hosts`` and ``children`` (``all``
        without hosts), and ``_meta.hostvars`` with each host's merged vars
        (omitted when empty). With `export`, each group's own ``vars`` and each
        host's own vars instead, unmerged. Print it with
        ``json.dumps(data, sort_keys=True, indent=4)`` to match Ansible's output.
        """
        result: dict[str, Any] = {}
        seen: set[str] = set()

        def add(group: Group) -> None:
            entry: dict[str, Any] = {}
            if group.name != "all" and group.hosts:
                entry["hosts"] = list(group.hosts)
            if group.children:
                entry["children"] = list(group.children)
            for kid in group.children:
                if kid not in seen:
                    seen.add(kid)
                    add(self.groups[kid])
            if export:
                gvars = {**group.vars, **group.file_vars}
                if group.priority != 1:
                    gvars["ansible_group_priority"] = group.priority
                if gvars:
                    entry["vars"] = gvars
            if entry:
                result[group.name] = entry

        add(self.groups["all"])
        hostvars: dict[str, Any] = {}
        for name, host in self.hosts.items():
            values = {**host.vars, **host.file_vars} if export else self.host_vars(name)
            if values:
                hostvars[name] = values
        result["_meta"] = {"hostvars": hostvars}
        return result

    def host_json(self, name: str) -> dict[str, Any]:
        """What ``ansible-inventory --host NAME`` prints, as data: the host's merged vars."""
        return self.host_vars(name)


def load_inventory(
    sources: Sequence[str | Path],
    base_dir: Path | None = None,
    vars_dirs: Sequence[Path] = (),
) -> Inventory:
    """Load and merge inventory `sources` in order (relative paths from `base_dir`, default the cwd).

    `vars_dirs` are further directories whose ``group_vars/`` and ``host_vars/``
    apply after the inventory's (the playbook's directory, as in Ansible).
    Every problem is an InputError at ``path:line:col``.
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    builder = InventoryBuilder()
    loaded: list[str] = []
    vars_bases: list[Path] = []
    for source in sources:
        text = str(source)
        path = Path(os.path.expanduser(text))
        path = path if path.is_absolute() else base / path
        if "," in text and not path.exists():
            parse_host_list(builder, text)
            loaded.append(text)
            continue
        if not path.exists():
            raise InputError(
                "inventory source not found",
                Location(str(path)),
                "check the -i path; a list of hosts needs a comma, e.g. -i 'node01,node02,' or -i 'localhost,'",
            )
        if path.is_dir():
            _parse_dir(builder, path)
            vars_bases.append(path)
        else:
            _parse_file(builder, path)
            vars_bases.append(path.parent)
        loaded.append(str(path))
    builder.finish()
    inventory_dir = vars_bases[0] if vars_bases else None
    vars_bases.extend(d if d.is_absolute() else base / d for d in map(Path, vars_dirs))
    for group in builder.groups.values():
        group.file_vars, group.file_var_origins = load_entity_vars(vars_bases, "group_vars", group.name)
    for host in builder.hosts.values():
        host.file_vars, host.file_var_origins = load_entity_vars(vars_bases, "host_vars", host.name)
    return Inventory(builder.groups, builder.hosts, loaded, vars_bases, inventory_dir)


def _parse_dir(builder: InventoryBuilder, directory: Path) -> None:
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.startswith(".") or name in _SKIP_NAMES or name.endswith(_SKIP_EXTENSIONS):
            continue
        if entry.is_dir():
            _parse_dir(builder, entry)
        else:
            _parse_file(builder, entry)


def _parse_file(builder: InventoryBuilder, path: Path) -> None:
    where = Location(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read inventory file: {exc}", where) from None
    if text.startswith("#!") and os.access(path, os.X_OK):
        raise InputError(
            "executable inventory scripts are not supported",
            Location(str(path), 1, 1),
            "save its output as a static inventory: ansible-inventory -i THIS_SCRIPT --list -y > static.yml",
        )
    builder.current_source = str(path)
    try:
        if path.suffix in YAML_EXTENSIONS:
            parse_yaml(builder, loads(text, str(path)), str(path))
            return
        data = None if path.suffix else _yaml_mapping(text, str(path))
        if data is not None:
            parse_yaml(builder, data, str(path))
        else:
            parse_ini(builder, text, str(path))
    finally:
        builder.current_source = None


def _yaml_mapping(text: str, path: str) -> dict[str, Any] | None:
    """The YAML mapping `text` holds, or None if it is not one (then it is INI)."""
    try:
        data = loads(text, path)
    except InputError:
        return None
    return data if isinstance(data, dict) else None
