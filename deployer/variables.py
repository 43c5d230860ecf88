"""A host's variables for one task: layered, rendered lazily, read-only.

Precedence, lowest first (simpler than Ansible's 22 levels, and documented):

    inventory (all < parent group < child group < host)
    < play vars < play vars_files
    < set_fact / register results (they persist across plays)
    < task vars < loop variable
    < extra vars (-e)

and the magic names (inventory_hostname, groups, group_names, hostvars,
deployer_facts, ansible_check_mode, playbook_dir, ...) which cannot be shadowed.

A value that is itself a template ("{{ base }}/models") is rendered when it is
read, against the same layers, as Ansible does; a variable that refers to
itself is an error, not a hang.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterator

from deployer.templating import Templar, TemplateError, has_template


class Variables(Mapping):
    """Layered variables; the first layer holding a name wins."""

    def __init__(self, layers: list[Mapping[str, Any]], templar: Templar) -> None:
        self._layers = layers  # highest precedence first
        self._templar = templar
        self._rendered: dict[str, Any] = {}
        self._resolving: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        if key in self._rendered:
            return self._rendered[key]
        for layer in self._layers:
            if key in layer:
                value = layer[key]
                break
        else:
            raise KeyError(key)
        if has_template(value):
            if key in self._resolving:
                raise TemplateError(f"variable '{key}' refers to itself")
            self._resolving.add(key)
            try:
                value = self._templar.render(value, self)
            finally:
                self._resolving.discard(key)
        self._rendered[key] = value
        return value

    def __contains__(self, key: object) -> bool:
        return any(key in layer for layer in self._layers)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for layer in self._layers:
            for k in layer:
                if k not in seen:
                    seen.add(k)
                    yield k

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def with_layer(self, layer: Mapping[str, Any]) -> "Variables":
        """A new view with `layer` above all others except the top (extra vars)."""
        return Variables([self._layers[0], layer, *self._layers[1:]], self._templar)


class LazyMapping(Mapping):
    """A mapping computed on first access (deployer_facts: gathered only when read)."""

    def __init__(self, load: Callable[[], Mapping[str, Any]]) -> None:
        self._load = load
        self._value: Mapping[str, Any] | None = None

    def _get(self) -> Mapping[str, Any]:
        if self._value is None:
            self._value = self._load()
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


class HostVarsMapping(Mapping):
    """`hostvars`: every host's variables, each built only when read."""

    def __init__(self, names: list[str], build: Callable[[str], Mapping[str, Any]]) -> None:
        self._names = names
        self._build = build

    def __getitem__(self, key: str) -> Mapping[str, Any]:
        if key not in self._names:
            raise KeyError(key)
        return self._build(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
