"""Jinja2 in a sandbox with StrictUndefined, rendered per host at task time.

A string that is exactly one ``{{ expression }}`` renders to the expression's
native value (a list stays a list), as in Ansible; anything else renders to a
string. ``when``/``that``/``until``/``changed_when``/``failed_when`` are bare
expressions. The filters and tests are the Ansible ones simple playbooks use.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import re
import shlex
from pathlib import Path
from typing import Any, Iterable, Mapping

import jinja2
import jinja2.meta
import jinja2.nodes
import yaml
from jinja2.sandbox import SandboxedEnvironment

from deployer.errors import DeployerError, InputError, Location
from deployer.yamlload import UnsafeText

#: The value of ``omit``: an argument rendered to this is dropped.
OMIT = "__deployer_omit_" + hashlib.sha256(b"omit").hexdigest()[:12] + "__"

_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.S)


class TemplateError(DeployerError):
    """A template could not be rendered for a host (undefined variable, bad filter...)."""


def is_template(value: Any) -> bool:
    if not isinstance(value, str) or isinstance(value, UnsafeText):
        return False
    return "{{" in value or "{%" in value or "{#" in value


def has_template(value: Any) -> bool:
    """A template anywhere in a value (strings inside mappings and lists included)."""
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_template(v) for v in value)
    return is_template(value)


# -- filters ---------------------------------------------------------------


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).strip().lower() in ("yes", "y", "on", "true", "1")


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, jinja2.Undefined):
        raise TemplateError(msg or "mandatory variable is not defined")
    return value


def _regex_replace(value: str, pattern: str, replacement: str = "", ignorecase: bool = False) -> str:
    return re.sub(pattern, replacement, str(value), flags=re.I if ignorecase else 0)


def _regex_search(value: str, pattern: str, ignorecase: bool = False) -> str | None:
    m = re.search(pattern, str(value), flags=re.I if ignorecase else 0)
    return m.group(0) if m else None


def _ternary(value: Any, true_val: Any, false_val: Any) -> Any:
    return true_val if _bool(value) else false_val


def _combine(*dicts: Mapping, recursive: bool = False) -> dict:
    out: dict = {}
    for d in dicts:
        for k, v in d.items():
            if recursive and isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
                out[k] = _combine(out[k], v, recursive=True)
            else:
                out[k] = v
    return out


def _flatten(items: Iterable, levels: int | None = None) -> list:
    out: list = []
    for item in items:
        if isinstance(item, (list, tuple)) and (levels is None or levels > 0):
            out.extend(_flatten(item, None if levels is None else levels - 1))
        else:
            out.append(item)
    return out


def _human_bytes(value: Any) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB"


def _version_key(v: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"[.\-+]", str(v).lstrip("v")) if p != ""]


def _version(value: Any, other: Any, op: str = "eq") -> bool:
    a, b = _version_key(value), _version_key(other)
    ops = {
        "eq": a == b, "==": a == b, "ne": a != b, "!=": a != b,
        "lt": a < b, "<": a < b, "le": a <= b, "<=": a <= b,
        "gt": a > b, ">": a > b, "ge": a >= b, ">=": a >= b,
    }  # fmt: skip
    if op not in ops:
        raise TemplateError(f"unknown version operator {op!r}: use one of ==, !=, <, <=, >, >=")
    return ops[op]


def _result_is(key: str):
    def test(value: Any) -> bool:
        return isinstance(value, Mapping) and bool(value.get(key, False))

    return test


def _succeeded(value: Any) -> bool:
    return isinstance(value, Mapping) and not value.get("failed", False)


def _lookup(kind: str, *terms: str, default: Any = None) -> Any:
    if kind == "env":
        values = [os.environ.get(t, default if default is not None else "") for t in terms]
    elif kind == "file":
        values = []
        for t in terms:
            try:
                values.append(Path(t).expanduser().read_text(encoding="utf-8").rstrip("\n"))
            except OSError as exc:
                raise TemplateError(f"lookup('file', {t!r}): {exc.strerror}")
    else:
        raise TemplateError(f"lookup plugin {kind!r} is not supported (supported: env, file)")
    return values[0] if len(values) == 1 else ",".join(values)


FILTERS: dict[str, Any] = {
    "bool": _bool,
    "mandatory": _mandatory,
    "to_json": lambda v, **kw: json.dumps(v, **kw),
    "to_nice_json": lambda v, indent=4: json.dumps(v, indent=indent, sort_keys=True),
    "from_json": json.loads,
    "to_yaml": lambda v: yaml.safe_dump(v, default_flow_style=False, sort_keys=False),
    "to_nice_yaml": lambda v, indent=2: yaml.safe_dump(v, indent=indent, default_flow_style=False, sort_keys=False),
    "from_yaml": yaml.safe_load,
    "regex_replace": _regex_replace,
    "regex_search": _regex_search,
    "regex_findall": lambda v, p: re.findall(p, str(v)),
    "basename": posixpath.basename,
    "dirname": posixpath.dirname,
    "expanduser": os.path.expanduser,
    "b64encode": lambda v: base64.b64encode(str(v).encode()).decode(),
    "b64decode": lambda v: base64.b64decode(str(v)).decode(),
    "hash": lambda v, algo="sha1": hashlib.new(algo, str(v).encode()).hexdigest(),
    "quote": lambda v: shlex.quote(str(v)),
    "ternary": _ternary,
    "combine": _combine,
    "dict2items": lambda d: [{"key": k, "value": v} for k, v in d.items()],
    "items2dict": lambda items: {i["key"]: i["value"] for i in items},
    "flatten": _flatten,
    "difference": lambda a, b: [x for x in a if x not in b],
    "intersect": lambda a, b: [x for x in a if x in b],
    "union": lambda a, b: list(a) + [x for x in b if x not in a],
    "human_bytes": _human_bytes,
    "version": _version,
}

TESTS: dict[str, Any] = {
    "version": _version,
    "version_compare": _version,
    "match": lambda v, p: re.match(p, str(v)) is not None,
    "search": lambda v, p: re.search(p, str(v)) is not None,
    "regex": lambda v, p: re.search(p, str(v)) is not None,
    "changed": _result_is("changed"),
    "failed": _result_is("failed"),
    "skipped": _result_is("skipped"),
    "succeeded": _succeeded,
    "success": _succeeded,
    "truthy": _bool,
    "falsy": lambda v: not _bool(v),
}


class Templar:
    """Renders values and evaluates expressions; one per run, shared by all hosts (thread-safe)."""

    def __init__(self) -> None:
        env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        env.filters.update(FILTERS)
        env.tests.update(TESTS)
        env.globals["lookup"] = _lookup
        env.globals["omit"] = OMIT
        self.env = env
        self._cache: dict[str, jinja2.Template] = {}

    def _template(self, text: str) -> jinja2.Template:
        template = self._cache.get(text)
        if template is None:
            template = self.env.from_string(text)
            self._cache[text] = template
        return template

    # -- static checks (before any host is touched) -----------------------
    def variables_of(self, value: Any, required_only: bool = False) -> set[str]:
        """The root variable names a value's templates read (raises InputError on bad syntax).

        With `required_only`, names the template guards itself are left out:
        ``x | default(...)`` and any name tested with ``is defined``/``is undefined``.
        """
        names: set[str] = set()
        for text in _strings(value):
            if is_template(text):
                ast = self._parse(text)
                found = jinja2.meta.find_undeclared_variables(ast)
                names |= found - _guarded(ast) if required_only else found
        return names

    def expression_variables(self, expr: str, required_only: bool = False) -> set[str]:
        return self.variables_of("{{ " + expr + " }}", required_only)

    def _parse(self, text: str):
        try:
            return self.env.parse(text)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(f"template syntax error: {exc.message} in {text!r}", hint="check the {{ }} and {% %} pairs")

    def check_syntax(self, value: Any, location: Location | None) -> None:
        """Parse and compile every template in `value`: syntax errors and unknown filters/tests."""
        for text in _strings(value):
            if not is_template(text):
                continue
            try:
                self.env.from_string(text)
            except jinja2.TemplateSyntaxError as exc:
                raise InputError(f"template error: {exc.message} in {text!r}", location, "check the {{ }} pairs and filter names")

    # -- rendering --------------------------------------------------------
    def render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        """Render every string in `value` (recursively); drops keys that render to omit."""
        if isinstance(value, str):
            return self._render_str(value, variables)
        if isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                rendered = self.render(v, variables)
                if rendered == OMIT:
                    continue
                out[self._render_str(k, variables) if isinstance(k, str) else k] = rendered
            return out
        if isinstance(value, (list, tuple)):
            return [r for r in (self.render(v, variables) for v in value) if r != OMIT]
        return value

    def _render_str(self, text: str, variables: Mapping[str, Any]) -> Any:
        if not is_template(text):
            return text
        m = _SINGLE_EXPR.match(text)
        if m and "{%" not in text:
            return self.evaluate(m.group("expr"), variables, source=text)
        try:
            template = self._template(text)
            # shared=True: the variables mapping is used as is, never copied, so lazily
            # rendered variables and facts are only computed when a template reads them
            context = template.new_context(_Scope(variables, self.env.globals), shared=True)
            return "".join(template.root_render_func(context))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error: {exc.message} in {text!r}")
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{_undefined_message(exc)} in {text!r}")
        except jinja2.TemplateError as exc:
            raise TemplateError(f"cannot render {text!r}: {exc}")
        except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError) as exc:
            raise TemplateError(f"cannot render {text!r}: {exc}")

    def evaluate(self, expr: str | bool, variables: Mapping[str, Any], source: str | None = None) -> Any:
        """Evaluate a bare expression ("x is defined and y > 2"); `source` names it in errors."""
        if isinstance(expr, bool):
            return expr
        text = str(expr).strip()
        shown = source or text
        if is_template(text):
            m = _SINGLE_EXPR.match(text)
            if not m:
                return self._render_str(text, variables)
            text = m.group("expr").strip()
        try:
            template = self._template("{% set deployer_value = (" + text + "\n) %}")
            module = template.make_module(_Scope(variables, self.env.globals), shared=True)  # type: ignore[arg-type]
            value = module.deployer_value
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"expression syntax error: {exc.message} in {shown!r}")
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{_undefined_message(exc)} in {shown!r}")
        except jinja2.TemplateError as exc:
            raise TemplateError(f"cannot evaluate {shown!r}: {exc}")
        except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError) as exc:
            raise TemplateError(f"cannot evaluate {shown!r}: {exc}")
        if isinstance(value, jinja2.Undefined):
            # accessing it raises the precise UndefinedError
            try:
                str(value)
            except jinja2.UndefinedError as exc:
                raise TemplateError(f"{_undefined_message(exc)} in {shown!r}")
        return value

    def condition(self, expr: str | bool | list, variables: Mapping[str, Any]) -> bool:
        """A when/that condition; a list means all must hold."""
        if isinstance(expr, list):
            return all(self.condition(e, variables) for e in expr)
        return _bool(self.evaluate(expr, variables))


class _Scope(Mapping):
    """Variables first, then the environment's globals (range, lookup, omit...)."""

    def __init__(self, variables: Mapping[str, Any], globals_: Mapping[str, Any]) -> None:
        self.variables = variables
        self.globals = globals_

    def __getitem__(self, key: str) -> Any:
        if key in self.variables:
            return self.variables[key]
        return self.globals[key]

    def __contains__(self, key: object) -> bool:
        return key in self.variables or key in self.globals

    def __iter__(self):
        yield from self.variables
        yield from (k for k in self.globals if k not in self.variables)

    def __len__(self) -> int:
        return len(set(self.variables) | set(self.globals))


def _guarded(ast: jinja2.nodes.Template) -> set[str]:
    """Root names a template guards itself: under `default` or tested for being defined."""
    out: set[str] = set()

    def root(node: jinja2.nodes.Node) -> str | None:
        while isinstance(node, (jinja2.nodes.Getattr, jinja2.nodes.Getitem)):
            node = node.node
        return node.name if isinstance(node, jinja2.nodes.Name) else None

    for f in ast.find_all(jinja2.nodes.Filter):
        if f.name in ("default", "d") and f.node is not None and (name := root(f.node)):
            out.add(name)
    for t in ast.find_all(jinja2.nodes.Test):
        if t.name in ("defined", "undefined") and (name := root(t.node)):
            out.add(name)
    return out


def _undefined_message(exc: jinja2.UndefinedError) -> str:
    text = str(exc.message or exc)
    m = re.match(r"'(\w+)' is undefined", text)
    if m:
        return f"undefined variable '{m.group(1)}'"
    return text.replace("jinja2.", "")


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str):
                yield k
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
