"""Host patterns, as in Ansible's ``hosts:`` and ``--limit``: parse and match.

Pure functions over host names and group membership; the inventory calls them
(`Inventory.select`). A pattern is one or more terms:

=====================  =====================================================
``web``                a group (all its hosts, children included) or a host
``all``, ``*``         every host in the inventory
``node*``, ``node0[1-3]``  shell globs over group names and host names
``~node\\d+``          a regular expression (``re.match``: anchored at the start)
``a:b``, ``a,b``       union (whitespace separates terms too)
``a:&b``               intersection
``a:!b``               exclusion
``web[0]``, ``web[-1]``, ``web[1:3]``, ``web[2:]``, ``web[:1]``
                       subscripts; the range is inclusive, counted in the
                       group's own order (Ansible's ``groups['web']``)
=====================  =====================================================

As in Ansible, the terms are applied in the order unions, intersections,
exclusions, whatever order they were written in; a pattern of only ``&``/``!``
terms starts from ``all``. A term that matches a group name takes that group's
hosts; a term that matches no group, or contains a glob or regex character
(``.?*[`` or ``~``), is matched against host names as well.

Differences from Ansible, on purpose:

- The result is in inventory order (the order of ``groups['all']``), not in the
  order the terms were written: ``db:web`` and ``web:db`` select the same list.
- ``[1-3]`` is a glob character class; Ansible reads it as a removed ``[x-y]``
  subscript and matches nothing. ``[:3]`` is a subscript (documented by Ansible
  but not implemented there).
- A comma-separated part is split further at ``:``; Ansible does not split at
  ``:`` once the pattern has a comma.
- Syntax errors (``a:&``, ``web[1:x]``, ``~(``) are :class:`InputError`, where
  Ansible warns or crashes. A pattern that matches nothing is not an error: the
  result is ``[]``.

``localhost``, ``127.0.0.1`` and ``::1`` match even when absent from the
inventory: they name the implicit local host (see :func:`select`).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from deployer.errors import InputError, Location

LOCALHOST_NAMES = ("localhost", "127.0.0.1", "::1")

# One term: runs of anything but whitespace, ':' and brackets, or whole
# bracketed expressions (so 'web[1:3]' and 'node[01:04]' stay one term).
_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
# 'name:port' and '[name]:port' are one term (Ansible keeps them whole).
_HOSTPORT = re.compile(r"(?:[^:\[\]]|\[[^\]]*\])+:[0-9]+|\[.+\]:[0-9]+")
_TRAILING_BRACKET = re.compile(r"^(?P<expr>.+)\[(?P<inner>[^\[\]]*)\]$")
_INDEX = re.compile(r"-?[0-9]+")
_SLICE = re.compile(r"(?P<start>[0-9]*):(?P<end>[0-9]*)")
_GLOB_CHARS = (".", "?", "*", "[")
_EXAMPLES = "e.g. 'web', 'web:&gpu', 'all:!login', 'node*', '~node0[1-4]', 'web[0]', 'web[1:3]'"


@dataclass(frozen=True)
class Term:
    """One parsed term of a host pattern."""

    op: str  # '' (union), '&' (intersection) or '!' (exclusion)
    expr: str  # the name, glob or '~regex', without op and subscript
    matcher: re.Pattern[str]
    start: int | None = None  # subscript: hosts[start..end], inclusive; None: no subscript
    end: int | None = None  # None with a start: a single index; -1: to the end

    @property
    def is_regex(self) -> bool:
        return self.expr.startswith("~")

    @property
    def has_subscript(self) -> bool:
        return self.start is not None


def split_pattern(pattern: str | Sequence[str], location: Location | None = None) -> list[str]:
    """The terms of a pattern, each still with its '&'/'!' prefix and subscript.

    ``'web:&gpu, db'`` -> ``['web', '&gpu', 'db']``. IPv6 addresses and
    ``host:port`` stay whole, like Ansible. Unbalanced brackets outside a
    ``~regex`` are an InputError (splitting would silently drop them).
    """
    if not isinstance(pattern, str):
        return [term for part in pattern for term in split_pattern(part, location)]
    terms: list[str] = []
    for part in pattern.split(","):
        part = part.strip()
        if not part:
            continue
        if _is_ipv6(part) or _HOSTPORT.fullmatch(part):
            terms.append(part)
            continue
        if "~" not in part and not _balanced(part):
            raise InputError(
                f"bad host pattern '{pattern}': unbalanced '[' or ']' in '{part}'",
                location,
                "close each '[' with ']', e.g. 'node0[1-3]' or 'web[0:2]'",
            )
        terms.extend(_TERM.findall(part))
    return terms


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth not in (0, 1):
            return False
    return depth == 0


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def parse_pattern(pattern: str | Sequence[str], location: Location | None = None) -> list[Term]:
    """Parse a pattern into terms, ordered unions, intersections, exclusions.

    Raises InputError (at `location`, naming the pattern) on bad syntax.
    """
    shown = pattern if isinstance(pattern, str) else ", ".join(pattern)
    raw = split_pattern(pattern, location)
    if not raw:
        raise InputError(f"empty host pattern '{shown}'", location, f"name a group or host, {_EXAMPLES}")
    terms = [_parse_term(t, shown, location) for t in raw]
    unions = [t for t in terms if t.op == ""]
    if not unions:
        unions = [Term("", "all", _compile_glob("all"))]
    return unions + [t for t in terms if t.op == "&"] + [t for t in terms if t.op == "!"]


def _parse_term(text: str, shown: str, location: Location | None) -> Term:
    op = text[0] if text[0] in "&!" else ""
    body = text[len(op):]
    if not body or body[0] in "&!":
        what = f"'{op}' must be followed by" if op else "expected"
        raise InputError(f"bad host pattern '{shown}': {what} a group or host name", location, _EXAMPLES)
    if body.startswith("~"):
        return Term(op, body, _compile_regex(body[1:], shown, location))
    expr, start, end = _split_subscript(body, shown, location)
    return Term(op, expr, _compile_glob(expr), start, end)


def _split_subscript(body: str, shown: str, location: Location | None) -> tuple[str, int | None, int | None]:
    m = _TRAILING_BRACKET.match(body)
    if not m:
        return body, None, None
    expr, inner = m.group("expr"), m.group("inner")
    if _INDEX.fullmatch(inner):
        return expr, int(inner), None
    if ":" not in inner:
        return body, None, None  # a glob character class, e.g. node0[1-3]
    s = _SLICE.fullmatch(inner)
    if not s or not (s.group("start") or s.group("end")):
        raise InputError(
            f"bad host pattern '{shown}': subscript '[{inner}]' must be [N], [-N], [N:M], [N:] or [:M] with whole numbers",
            location,
            "e.g. 'web[0]' (first host), 'web[-1]' (last), 'web[0:2]' (first three, inclusive)",
        )
    start = int(s.group("start") or 0)
    end = int(s.group("end")) if s.group("end") else -1
    if end != -1 and end < start:
        raise InputError(
            f"bad host pattern '{shown}': subscript '[{inner}]' ends before it starts",
            location,
            f"write [{end}:{start}] or swap the numbers",
        )
    return expr, start, end


def _compile_regex(regex: str, shown: str, location: Location | None) -> re.Pattern[str]:
    hint = "after '~' write a Python regular expression, e.g. '~node0[1-4]'"
    if not regex:
        raise InputError(f"bad host pattern '{shown}': '~' must be followed by a regular expression", location, hint)
    try:
        return re.compile(regex)
    except re.error as exc:
        raise InputError(f"bad host pattern '{shown}': invalid regular expression '{regex}': {exc}", location, hint) from None


def _compile_glob(expr: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(expr))


def _apply_subscript(hosts: list[str], term: Term) -> list[str]:
    if term.start is None:
        return hosts
    if term.end is None:
        return [hosts[term.start]] if -len(hosts) <= term.start < len(hosts) else []
    stop = len(hosts) if term.end == -1 else term.end + 1
    return hosts[term.start:stop]


def _enumerate(term: Term, hosts: Sequence[str], groups: Mapping[str, Sequence[str]]) -> list[str]:
    found: dict[str, None] = {}
    matched_group = False
    for name, members in groups.items():
        if term.matcher.match(name):
            matched_group = True
            found.update(dict.fromkeys(members))
    if not matched_group or term.is_regex or any(c in term.expr for c in _GLOB_CHARS):
        found.update(dict.fromkeys(h for h in hosts if term.matcher.match(h)))
    return _apply_subscript(list(found), term)


def select(
    pattern: str | Sequence[str],
    hosts: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    location: Location | None = None,
) -> list[str]:
    """The host names `pattern` selects, in the order of `hosts`.

    `hosts` is the inventory in order; `groups` maps every group (``all``
    included) to its hosts in the group's own order, children's hosts
    included: Ansible's ``groups`` variable. A ``localhost``/``127.0.0.1``/
    ``::1`` term that matches nothing names the first localhost-like host of
    the inventory if there is one, else the implicit local host (which is not
    in ``all``; every alias of it in one pattern selects it once, under the
    first alias used). Such an implicit name comes last in the result.
    """
    terms = parse_pattern(pattern, location)
    known = set(hosts)
    local_name = next((h for h in hosts if h in LOCALHOST_NAMES), None)
    selected: dict[str, None] = {}
    for term in terms:
        if term.op == "" and not term.has_subscript and term.expr in known:
            matched = [term.expr]  # a plain host name wins over a group of that name, as in Ansible
        else:
            matched = _enumerate(term, hosts, groups)
        if not matched and term.expr in LOCALHOST_NAMES and not term.has_subscript:
            local_name = local_name or term.expr
            matched = [local_name]
        if term.op == "&":
            keep = set(matched)
            selected = {h: None for h in selected if h in keep}
        elif term.op == "!":
            drop = set(matched)
            selected = {h: None for h in selected if h not in drop}
        else:
            selected.update(dict.fromkeys(matched))
    ordered = [h for h in hosts if h in selected]
    ordered.extend(h for h in selected if h not in known)
    return ordered
