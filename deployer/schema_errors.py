"""pydantic validation errors -> InputErrors at the YAML position they concern.

Used for the playbook's keywords and for module arguments, which are checked
before any host is touched while their templated values are left for run time.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from deployer import yamlload
from deployer.errors import InputError, Location, did_you_mean
from deployer.templating import has_template, is_template


def validation_errors(exc: ValidationError, raw: Any, default: Location) -> list[InputError]:
    """pydantic errors -> InputErrors with positions; one per offending key."""
    out: list[InputError] = []
    seen: dict[tuple, InputError] = {}
    for err in exc.errors():
        path = clean_path(raw, err["loc"], err["type"] == "missing")
        loc = yamlload.locate(raw, path, default) or default
        key = ".".join(str(p) for p in path) or "value"
        if tuple(path) in seen:
            continue  # one message per key, not one per member of a union type
        if err["type"] == "extra_forbidden":
            e = InputError(f"unknown key '{path[-1]}'", loc, None)
        elif err["type"] == "missing":
            e = InputError(f"missing required key '{key}'", loc, f"add '{path[-1]}:'")
        else:
            expected = expected_kinds(exc, err["loc"][: len(err["loc"])])
            e = InputError(f"'{key}': {expected or err['msg'].lower()} (got {err.get('input')!r:.60})", loc)
        seen[tuple(path)] = e
        out.append(e)
    return out


def expected_kinds(exc: ValidationError, loc: tuple) -> str | None:
    """'expected an integer, a string or a list' from the union members' errors at one key."""
    kinds = []
    names = {"int": "an integer", "str": "a string", "bool": "true/false", "float": "a number", "list": "a list", "dict": "a mapping"}
    base = loc[:-1] if loc and isinstance(loc[-1], str) and loc[-1].split("[")[0] in names else loc
    for e in exc.errors():
        if tuple(e["loc"][: len(base)]) == tuple(base) and len(e["loc"]) == len(base) + 1:
            kind = str(e["loc"][-1]).split("[")[0]
            if kind in names and names[kind] not in kinds:
                kinds.append(names[kind])
    if len(kinds) < 2:
        return None
    return "expected " + ", ".join(kinds[:-1]) + " or " + kinds[-1]


def clean_path(raw: Any, loc: tuple, missing: bool = False) -> list:
    """A pydantic error location without the union-member names pydantic inserts."""
    out: list = []
    node = raw
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif missing and i == len(loc) - 1 and isinstance(part, str):
            out.append(part)  # a missing key
            node = None
    return out


def prevalidate(model: type[BaseModel], label: str, args: dict, raw: Any, loc: Location, errors: list[InputError]) -> None:
    """Validate `args` against `model` (a module's Args), ignoring values that are templates."""
    if is_template(args):
        return
    try:
        model.model_validate(args)
    except ValidationError as exc:
        for err in exc.errors():
            path = clean_path(args, err["loc"], err["type"] == "missing")
            if err["type"] != "extra_forbidden" and templated_at(args, path):
                continue
            where = yamlload.locate(raw, path, loc) if raw is not None else loc
            field_name = ".".join(str(p) for p in path)
            if err["type"] == "extra_forbidden":
                hint = did_you_mean(str(path[-1]), set(model.model_fields)) or (
                    f"{label} takes: " + ", ".join(sorted(model.model_fields))
                )
                errors.append(InputError(f"{label}: unknown argument '{field_name}'", where, hint))
            elif err["type"] == "missing":
                errors.append(InputError(f"{label}: missing required argument '{field_name}'", where))
            else:
                msg = err["msg"]
                if msg.startswith("Value error, "):
                    msg = msg[len("Value error, ") :]
                errors.append(InputError(f"{label}: '{field_name or 'arguments'}': {msg}", where))


def templated_at(args: Any, path: list) -> bool:
    node = args
    for p in path:
        if is_template(node):
            return True
        if isinstance(node, dict) and p in node:
            node = node[p]
        elif isinstance(node, list) and isinstance(p, int) and p < len(node):
            node = node[p]
        else:
            # a model validator error on the whole object: templated if anything is
            return has_template(node)
    return is_template(node) or (not path and has_template(node))
