"""Options and loaders shared by the sub-commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from deployer import yamlload
from deployer.errors import InputError, Location, UsageError


def inventory_option(required: bool = True) -> Callable:
    return click.option(
        "-i",
        "--inventory",
        "inventories",
        multiple=True,
        required=required,
        metavar="INV",
        help="Inventory file or directory (INI or YAML, Ansible format), or 'host1,host2,'. Repeatable.",
    )


def extra_vars_option(f: Callable) -> Callable:
    return click.option(
        "-e",
        "--extra-vars",
        "extra_vars",
        multiple=True,
        metavar="VARS",
        help="k=v pairs, a YAML/JSON mapping, or @file.yml; wins over every other variable. Repeatable.",
    )(f)


def limit_option(f: Callable) -> Callable:
    return click.option("-l", "--limit", metavar="PATTERN", help="Only hosts matching this pattern (also @retry-file).")(f)


def parse_extra_vars(values: tuple[str, ...]) -> dict[str, Any]:
    """-e values -> one mapping (later ones win), as ansible-playbook does."""
    out: dict[str, Any] = {}
    for value in values:
        value = value.strip()
        if value.startswith("@"):
            data = yamlload.load_file(value[1:])
            if not isinstance(data, dict):
                raise InputError("an extra-vars file must be a mapping", Location(value[1:]))
            out.update(data)
        elif value.startswith("{"):
            data = yamlload.loads(value, "<-e>")
            if not isinstance(data, dict):
                raise UsageError(f"-e {value!r} is not a mapping")
            out.update(data)
        else:
            import shlex

            for word in shlex.split(value):
                k, sep, v = word.partition("=")
                if not sep or not k:
                    raise UsageError(f"-e {word!r} is not key=value", hint="use -e key=value, -e '{...}' or -e @file.yml")
                out[k] = v
    return out


def resolve_limit(limit: str | None) -> str | None:
    """`--limit @file` reads host names (one a line) from a retry file."""
    if limit and limit.startswith("@"):
        path = Path(limit[1:])
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise UsageError(f"cannot read limit file {path}: {exc.strerror}")
        if not names:
            raise UsageError(f"limit file {path} lists no hosts")
        return ",".join(names)
    return limit


def load_facts_file(path: str) -> dict:
    """A `deployer facts -o` file: {host: HostFacts}."""
    from deployer.facts.model import HostFacts

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read facts file: {exc.strerror}", Location(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"facts file is not JSON: {exc.msg}", Location(path, exc.lineno, exc.colno))
    hosts = data.get("hosts", data) if isinstance(data, dict) else None
    if not isinstance(hosts, dict):
        raise InputError("facts file must map host names to facts", Location(path), "write it with `deployer facts -o FILE`")
    out = {}
    for name, value in hosts.items():
        try:
            out[name] = HostFacts.model_validate(value)
        except Exception as exc:  # pydantic ValidationError: name the host, keep it short
            raise InputError(f"facts for host '{name}' are not valid: {str(exc).splitlines()[0]}", Location(path))
    return out
