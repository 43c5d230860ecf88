"""The module registry: YAML key -> Module class.

Built-in modules register on import of their file (every file in this package
but base.py is imported on first lookup); other packages add modules through the ``deployer.modules`` entry-point group. The
executor only ever calls :func:`lookup`, so new modules need no change there.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import TypeVar

from deployer.modules.base import Module

_REGISTRY: dict[str, type[Module]] = {}
_loaded = False

#: the namespace prefixes accepted in front of a module name, as in Ansible
PREFIXES = ("ansible.builtin.", "ansible.legacy.", "deployer.")

M = TypeVar("M", bound=type[Module])


def register(cls: M) -> M:
    """Class decorator: make a module available under its name and aliases."""
    for key in (cls.name, *cls.aliases):
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise RuntimeError(f"module name {key!r} registered twice")
        _REGISTRY[key] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    for ep in entry_points(group="deployer.modules"):
        ep.load()


def canonical(key: str) -> str:
    for prefix in PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def lookup(key: str) -> type[Module] | None:
    """The module class for a YAML key (with or without ansible.builtin.), or None."""
    _load()
    return _REGISTRY.get(canonical(key))


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)
