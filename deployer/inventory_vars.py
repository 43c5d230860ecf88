"""``group_vars/`` and ``host_vars/``: the variable files next to an inventory.

For a group or host NAME, in a directory D holding the inventory source (the
source itself if it is a directory, else the directory of the file), Ansible
reads the first of these that exists:

- ``D/group_vars/NAME`` as a directory: every file in it (and in its
  subdirectories without an extension), sorted by name, skipping hidden files,
  ``*~`` backups and extensions other than none/.yml/.yaml/.json;
- ``D/group_vars/NAME`` as a file, then ``NAME.yml``, ``NAME.yaml``, ``NAME.json``.

Files are merged in that order, a later file replacing a top-level variable of
an earlier one. An empty file is no variables; anything else that is not a
mapping is an InputError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deployer.errors import InputError, Location
from deployer.yamlload import YDict, key_location, loads

VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
_VAULT_HEADER = "$ANSIBLE_VAULT"


def find_vars_files(vars_dir: Path, name: str) -> list[Path]:
    """The files that hold the variables of `name` under `vars_dir`, in merge order."""
    if name.startswith("/"):
        return []
    for ext in VARS_EXTENSIONS:
        candidate = vars_dir / f"{name}{ext}"
        if candidate.is_dir():
            return _files_in(candidate)
        if candidate.is_file():
            return [candidate]
    return []


def _files_in(directory: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            found.extend(_files_in(entry))
        elif entry.is_file() and entry.suffix in VARS_EXTENSIONS:
            found.append(entry)
    return found


def load_vars_file(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, Location]]:
    """The variables of one vars file and where each was defined."""
    where = Location(str(path), 1, 1)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {kind} file: {exc}", Location(str(path))) from None
    if text.lstrip().startswith(_VAULT_HEADER):
        raise InputError(
            f"this {kind} file is encrypted with ansible-vault, which deployer cannot decrypt",
            where,
            "keep secrets in a file outside the inventory, or decrypt it: ansible-vault decrypt FILE",
        )
    if path.suffix == ".json":
        try:
            data: Any = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", Location(str(path), exc.lineno, exc.colno)) from None
    else:
        data = loads(text, str(path))
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        got = "a list" if isinstance(data, list) else f"{type(data).__name__} {data!r}"
        raise InputError(
            f"a {kind} file must be a mapping of variable names to values, got {got}",
            getattr(data, "loc", None) or where,
            "write one 'name: value' per line",
        )
    origins = {k: key_location(data, k) or where for k in data} if isinstance(data, YDict) else dict.fromkeys(data, where)
    return dict(data), origins


def load_entity_vars(base_dirs: list[Path], subdir: str, name: str) -> tuple[dict[str, Any], dict[str, Location]]:
    """All variables of group or host `name` from ``<base>/<subdir>/`` of every base dir, merged in order."""
    merged: dict[str, Any] = {}
    origins: dict[str, Location] = {}
    for base in base_dirs:
        vars_dir = base / subdir
        if not vars_dir.exists():
            continue
        if not vars_dir.is_dir():
            raise InputError(
                f"{subdir} is not a directory", Location(str(vars_dir)), f"{subdir}/ holds one file or directory per name"
            )
        for path in find_vars_files(vars_dir, name):
            values, where = load_vars_file(path, subdir)
            merged.update(values)
            origins.update(where)
    return merged, origins
