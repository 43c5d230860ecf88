"""Inventory host entries: ``name:port`` and host ranges (``node[01:20]``).

The same rules as Ansible's inventory plugins: a range is ``[begin:end]`` or
``[begin:end:step]``, inclusive; numeric (``[1:20]``), zero-padded
(``[01:20]``: begin and end written with the same width) or one letter each
(``[a:c]``); several ranges in one name multiply (``r[1:2]n[a:b]``). A port
follows the name (``host:2222``) or a bracketed address (``[fe80::1]:2222``)
and becomes the host's ``ansible_port``.

Unlike Ansible, a range that yields no host (begin after end) is an error,
not an empty group.
"""

from __future__ import annotations

import re
import string

from deployer.errors import InputError, Location

_BRACKETED_HOSTPORT = re.compile(r"\[(?P<host>.+)\]:(?P<port>[0-9]+)")
_HOSTPORT = re.compile(r"(?P<host>(?:[^:\[\]]|\[[^\]]*\])*):(?P<port>[0-9]+)")
_RANGE_HINT = "write a range as [begin:end] or [begin:end:step], e.g. node[01:20], node[1:20:2], gpu-[a:c]"


def split_host_port(text: str) -> tuple[str, int | None]:
    """``'web1:2222'`` -> ``('web1', 2222)``; ``'[fe80::1]:22'`` -> ``('fe80::1', 22)``.

    A bare IPv6 address has no port (``'fe80::1'`` -> ``('fe80::1', None)``).
    """
    for regex in (_BRACKETED_HOSTPORT, _HOSTPORT):
        m = regex.fullmatch(text)
        if m and m.group("host"):
            return m.group("host"), int(m.group("port"))
    return text, None


def expand_host_pattern(text: str, location: Location | None = None, ranges: bool = True) -> tuple[list[str], int | None]:
    """The host names and the port an inventory host entry stands for.

    With `ranges` False (the ``-i 'a,b,'`` form, as in Ansible) brackets are
    kept as part of the name.
    """
    name, port = split_host_port(text)
    if ranges and "[" in name:
        return expand_range(name, location), port
    return [name], port


def expand_range(name: str, location: Location | None = None) -> list[str]:
    """Expand every ``[begin:end(:step)]`` in `name`, left to right."""
    start = name.find("[")
    if start < 0:
        return [name]
    stop = name.find("]", start)
    if stop < 0:
        raise InputError(f"bad host range in '{name}': '[' is not closed by ']'", location, _RANGE_HINT)
    head, spec, tail = name[:start], name[start + 1:stop], name[stop + 1:]
    names: list[str] = []
    for piece in _range_values(name, spec, location):
        names.extend(expand_range(head + piece + tail, location))
    return names


def _range_values(name: str, spec: str, location: Location | None) -> list[str]:
    def bad(why: str) -> InputError:
        return InputError(f"bad host range '[{spec}]' in '{name}': {why}", location, _RANGE_HINT)

    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise bad("expected begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]
    if not end:
        raise bad("the end is missing")
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError:
        raise bad(f"the step '{bounds[2]}' is not a whole number") from None
    if step < 1:
        raise bad("the step must be 1 or more")
    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        if letters.index(begin) > letters.index(end):
            raise bad(f"'{begin}' comes after '{end}'")
        return list(letters[letters.index(begin):letters.index(end) + 1:step])
    if not (begin.isdigit() and end.isdigit()):
        raise bad("begin and end must both be numbers or both single letters")
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise bad(f"zero-padded begin '{begin}' and end '{end}' must have the same number of digits")
    if int(begin) > int(end):
        raise bad(f"begin {begin} is after end {end}, so it names no host")
    return [str(i).zfill(width) for i in range(int(begin), int(end) + 1, step)]
