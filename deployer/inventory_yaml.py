"""Ansible's YAML inventory format, and the ``-i 'host1,host2,'`` host list.

::

    all:                          # every top-level key is a group; 'all' is the usual one
      vars: {ansible_user: deploy}
      hosts:
        login: {ansible_host: 10.0.0.2}
      children:
        compute:
          hosts:
            node[01:04]:          # ranges work in host keys
          vars: {ollama_mode: system}

A group's value is a mapping with ``hosts``, ``vars`` and ``children`` (each a
mapping, or empty) or empty. A host's value is its vars (a mapping) or empty.
Where Ansible warns and skips (an unknown key in a group, a group that is not a
mapping), this is an InputError: the skipped part is almost always a typo that
would otherwise silently drop hosts.
"""

from __future__ import annotations

from typing import Any

from deployer.errors import InputError, Location, did_you_mean
from deployer.hostrange import expand_host_pattern, split_host_port
from deployer.inventory_build import InventoryBuilder
from deployer.yamlload import YDict, key_location

_SECTIONS = ("hosts", "vars", "children")


def parse_yaml(builder: InventoryBuilder, data: Any, path: str) -> None:
    """Add the groups, hosts and vars of a loaded YAML inventory to `builder`."""
    if data is None:
        return  # an empty file is an empty inventory, as in Ansible
    top = Location(path, 1, 1)
    if not isinstance(data, dict):
        raise InputError(
            f"a YAML inventory must be a mapping of group names, got {_kind(data)}",
            getattr(data, "loc", None) or top,
            "start with 'all:' and put hosts:, vars: and children: under it",
        )
    if "plugin" in data:
        raise InputError(
            f"inventory plugin configuration (plugin: {data['plugin']}) is not supported; deployer reads static inventories",
            key_location(data, "plugin") or top,
            "export it once with: ansible-inventory -i THIS_FILE --list -y > static.yml",
        )
    for name, group_data in data.items():
        _parse_group(builder, name, group_data, key_location(data, name) or top)


def _parse_group(builder: InventoryBuilder, name: Any, data: Any, where: Location) -> str:
    if not isinstance(name, str) or not name:
        raise InputError(f"a group name must be a non-empty string, got {name!r}", where, "quote the name")
    if data is not None and not isinstance(data, dict):
        raise InputError(
            f"group '{name}' must be a mapping with hosts:, vars: or children:, got {_kind(data)}",
            where,
            "e.g.  web: {hosts: {web1: {}, web2: {}}}",
        )
    builder.add_group(name, where)
    if not data:
        return name
    for key, value in data.items():
        kloc = key_location(data, key) or where
        if key not in _SECTIONS:
            hint = did_you_mean(str(key), _SECTIONS) or "list hosts under hosts: and groups under children:"
            raise InputError(f"unexpected key '{key}' in group '{name}'", kloc, hint)
        if isinstance(value, str):
            value = YDict({value: None})  # Ansible accepts 'hosts: web1' for one member
        if value is None:
            continue
        if not isinstance(value, dict):
            raise InputError(
                f"'{key}' of group '{name}' must be a mapping, got {_kind(value)}",
                kloc,
                f"write one entry per line under '{key}:', each ending with ':'",
            )
        if key == "vars":
            for var, val in value.items():
                builder.set_group_var(name, var, val, key_location(value, var) or kloc)
        elif key == "children":
            for child, child_data in value.items():
                cloc = key_location(value, child) or kloc
                _parse_group(builder, child, child_data, cloc)
                builder.add_child(name, child, cloc)
        else:
            for entry, host_vars in value.items():
                _parse_host(builder, name, entry, host_vars, key_location(value, entry) or kloc)
    return name


def _parse_host(builder: InventoryBuilder, group: str, entry: Any, host_vars: Any, where: Location) -> None:
    if not isinstance(entry, str) or not entry:
        raise InputError(
            f"host name {entry!r} in group '{group}' must be a string",
            where,
            "quote it, e.g. '\"10\":'",
        )
    if host_vars is not None and not isinstance(host_vars, dict):
        raise InputError(
            f"host '{entry}' in group '{group}' must map to its variables, got {_kind(host_vars)}",
            where,
            f"write '{entry}:' alone, or '{entry}: {{ansible_host: 10.0.0.5}}'",
        )
    names, port = expand_host_pattern(entry, where)
    for name in names:
        builder.add_host(name, group, where, port)
        for var, val in (host_vars or {}).items():
            builder.set_host_var(name, var, val, key_location(host_vars, var) or where)


def parse_host_list(builder: InventoryBuilder, source: str) -> None:
    """The ``-i 'web1,web2:2222,'`` form: hosts in 'ungrouped', no ranges."""
    where = Location(f"-i {source!r}")
    for entry in source.split(","):
        entry = entry.strip()
        if entry:
            name, port = split_host_port(entry)
            builder.add_host(name, "ungrouped", where, port)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{type(value).__name__} {value!r}"
