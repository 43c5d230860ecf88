"""The inventory graph while it is being loaded: groups, hosts, parent/child edges.

Parsers (INI, YAML, host lists) call :class:`InventoryBuilder`; it keeps
Ansible's rules: ``all`` and ``ungrouped`` always exist, a group without a
parent becomes a child of ``all``, a host in no group is in ``ungrouped``, a
group may not be its own descendant, a group's depth is its longest distance
from ``all``. :mod:`deployer.inventory` turns the result into an Inventory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.errors import InputError, Location

PRIORITY_VAR = "ansible_group_priority"


@dataclass
class Group:
    """One inventory group.

    `vars` are the group's variables from the inventory source itself (INI
    ``[g:vars]``, YAML ``vars:``); `file_vars` those from ``group_vars/``. They
    are kept apart because Ansible ranks every group's file vars above every
    group's inline vars (see :mod:`deployer.inventory`). `children` and `hosts`
    are the direct members, in the order they were added.
    """

    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    location: Location | None = None
    file_vars: dict[str, Any] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    priority: int = 1  # ansible_group_priority: among groups of one depth, higher wins
    depth: int = 0  # longest distance from 'all'
    var_origins: dict[str, Location] = field(default_factory=dict)
    file_var_origins: dict[str, Location] = field(default_factory=dict)


@dataclass
class Host:
    """One inventory host.

    `vars` are the host's own variables from the inventory source (a
    ``host:port`` becomes ``ansible_port``); `file_vars` those from
    ``host_vars/``. `groups` are the groups that list the host directly.
    `source` is the inventory file that first named it (Ansible's
    ``inventory_file``), None for a ``-i 'a,b,'`` list or the implicit localhost.
    """

    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    location: Location | None = None
    file_vars: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    source: str | None = None
    implicit: bool = False  # the local host a pattern named without it being in the inventory
    var_origins: dict[str, Location] = field(default_factory=dict)
    file_var_origins: dict[str, Location] = field(default_factory=dict)


class InventoryBuilder:
    """Collects groups and hosts from one or more sources, in order."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, Host] = {}
        self.current_source: str | None = None
        self.add_group("all")
        self.add_group("ungrouped")
        self.add_child("all", "ungrouped")

    def add_group(self, name: str, location: Location | None = None) -> Group:
        """The group `name`, created (at `location`) if new."""
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name, location=location)
        return group

    def add_host(self, name: str, group: str | None, location: Location | None, port: int | None = None) -> Host:
        """The host `name`, created if new, added to `group` if given.

        `port` (from ``name:port``) counts only where the host is first
        defined: Ansible ignores it on a later line.
        """
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = Host(name, location=location, source=self.current_source)
            if port is not None:
                self.set_host_var(name, "ansible_port", port, location)
        if group is not None:
            members = self.groups[group].hosts
            if name not in members:
                members.append(name)
                host.groups.append(group)
        return host

    def add_child(self, parent: str, child: str, location: Location | None = None) -> None:
        """Make group `child` a child of group `parent`; a cycle is an InputError."""
        p, c = self.groups[parent], self.groups[child]
        if child in p.children:
            return
        loop = [parent, child] if parent == child else self._path(child, parent)
        if loop:
            if parent != child:
                loop = [parent] + loop
            raise InputError(
                f"group '{child}' cannot be a child of '{parent}': that makes a loop {' -> '.join(loop)}",
                location,
                f"a group cannot contain itself; remove '{child}' from the children of '{parent}'",
            )
        p.children.append(child)
        c.parents.append(parent)

    def _path(self, start: str, goal: str) -> list[str]:
        """A child-edge path from `start` to `goal`, or [] if there is none."""
        stack: list[list[str]] = [[start]]
        seen: set[str] = set()
        while stack:
            path = stack.pop()
            if path[-1] == goal:
                return path
            if path[-1] in seen:
                continue
            seen.add(path[-1])
            stack.extend(path + [kid] for kid in reversed(self.groups[path[-1]].children))
        return []

    def set_group_var(self, group: str, key: str, value: Any, location: Location | None) -> None:
        """Set an inline group variable; ``ansible_group_priority`` sets the priority instead, as in Ansible."""
        g = self.groups[group]
        if key == PRIORITY_VAR:
            try:
                g.priority = int(value)
            except (TypeError, ValueError):
                raise InputError(
                    f"{PRIORITY_VAR} of group '{group}' must be a whole number, got {value!r}",
                    location,
                    f"e.g. {PRIORITY_VAR}=10 (among groups of one depth, the higher priority wins)",
                ) from None
            return
        g.vars[key] = value
        if location:
            g.var_origins[key] = location

    def set_host_var(self, host: str, key: str, value: Any, location: Location | None) -> None:
        """Set an inline host variable (a later definition replaces an earlier one)."""
        h = self.hosts[host]
        h.vars[key] = value
        if location:
            h.var_origins[key] = location

    def finish(self) -> None:
        """Apply Ansible's reconciliation; then hosts are in ``groups['all']`` order."""
        for group in self.groups.values():
            if group.name != "all" and not group.parents:
                self.add_child("all", group.name, group.location)
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts.values():
            if set(host.groups) - {"all", "ungrouped"}:
                if "ungrouped" in host.groups:
                    host.groups.remove("ungrouped")
                    ungrouped.hosts.remove(host.name)
            elif "ungrouped" not in host.groups:
                self.add_host(host.name, "ungrouped", host.location)
        self._set_depths()
        order = group_members(self.groups, "all")
        self.hosts = {name: self.hosts[name] for name in order}

    def _set_depths(self) -> None:
        for group in self.groups.values():
            group.depth = 0
        level = ["all"]
        while level:  # relax edges breadth-first: depth becomes the longest path (the graph has no cycles)
            nxt: list[str] = []
            for name in level:
                for kid in self.groups[name].children:
                    child = self.groups[kid]
                    if child.depth < self.groups[name].depth + 1:
                        child.depth = self.groups[name].depth + 1
                        nxt.append(kid)
            level = nxt


def group_members(groups: dict[str, Group], name: str) -> list[str]:
    """Hosts of group `name` and of its descendants, in Ansible's order:
    the group's own hosts first, then its children's, breadth-first."""
    ordered: dict[str, None] = {}
    seen = {name}
    level = [name]
    while level:
        nxt: list[str] = []
        for group in level:
            ordered.update(dict.fromkeys(groups[group].hosts))
            for kid in groups[group].children:
                if kid not in seen:
                    seen.add(kid)
                    nxt.append(kid)
        level = nxt
    return list(ordered)
