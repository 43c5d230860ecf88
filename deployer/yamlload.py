"""YAML loading: SafeLoader only, duplicate keys are errors, every node keeps its position.

Mappings load as :class:`YDict` and sequences as :class:`YList`; both remember
where they and each of their members start, so any later validation error can
be reported as ``path:line:col``. They are plain ``dict``/``list`` otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from deployer.errors import InputError, Location


class YDict(dict):
    """A dict that knows where it and each of its keys came from."""

    loc: Location | None = None
    key_locs: dict[Any, Location]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_locs = {}


class YList(list):
    """A list that knows where it and each of its items came from."""

    loc: Location | None = None
    item_locs: list[Location]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_locs = []


def _loc(path: str, node: yaml.Node) -> Location:
    return Location(path, node.start_mark.line + 1, node.start_mark.column + 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader that builds YDict/YList and rejects duplicate keys."""

    source_path = "<string>"

    def construct_yaml_map(self, node: yaml.MappingNode):  # type: ignore[override]
        data = YDict()
        data.loc = _loc(self.source_path, node)
        yield data
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise InputError("a mapping key must be a plain value", _loc(self.source_path, key_node))
            if key in data:
                first = data.key_locs[key]
                raise InputError(
                    f"duplicate key '{key}' (first defined at line {first.line})",
                    _loc(self.source_path, key_node),
                    "keep one of them; YAML would silently use the last",
                )
            data[key] = self.construct_object(value_node, deep=True)
            data.key_locs[key] = _loc(self.source_path, key_node)

    def construct_yaml_seq(self, node: yaml.SequenceNode):  # type: ignore[override]
        data = YList()
        data.loc = _loc(self.source_path, node)
        yield data
        for child in node.value:
            data.append(self.construct_object(child, deep=True))
            data.item_locs.append(_loc(self.source_path, child))


class UnsafeText(str):
    """Ansible's !unsafe: a string that is never templated."""


def _unsafe(loader: _Loader, node: yaml.Node):
    return UnsafeText(loader.construct_scalar(node))  # type: ignore[arg-type]


def _vault(loader: _Loader, node: yaml.Node):
    raise InputError(
        "ansible-vault encrypted values are not supported",
        _loc(loader.source_path, node),
        "decrypt it (ansible-vault decrypt) or pass the secret with -e @secrets.yml",
    )


_Loader.add_constructor("!unsafe", _unsafe)
_Loader.add_constructor("!vault", _vault)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_yaml_seq)


def loads(text: str, path: str = "<string>") -> Any:
    """Parse one YAML document; errors become InputError with the position."""
    loader = _Loader(text)
    loader.source_path = path
    try:
        return loader.get_single_data()
    except InputError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise InputError(f"invalid YAML: {problem}", loc, "check indentation and quoting near this line")
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", Location(path))
    finally:
        loader.dispose()


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is an InputError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", Location(str(path)), "check the path")
    except IsADirectoryError:
        raise InputError("is a directory, expected a YAML file", Location(str(path)))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", Location(str(path)))
    return loads(text, str(path))


def locate(data: Any, path: Iterable[Any], default: Location | None = None) -> Location | None:
    """The position of the deepest known node along `path` (keys and indexes).

    Used to turn a validation error's location tuple into ``file:line:col``.
    """
    best = getattr(data, "loc", None) or default
    node = data
    for part in path:
        if isinstance(node, YDict) and part in node:
            best = node.key_locs.get(part, best)
            node = node[part]
        elif isinstance(node, YList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_locs[part]
            node = node[part]
        else:
            break
        best = getattr(node, "loc", None) or best
    return best


def key_location(data: Any, key: Any) -> Location | None:
    """Where `key` of mapping `data` is, else where the mapping is."""
    if isinstance(data, YDict) and key in data.key_locs:
        return data.key_locs[key]
    return getattr(data, "loc", None)


def dump(data: Any) -> str:
    """Dump plain data (YDict/YList included) as block-style YAML."""
    return yaml.safe_dump(_plain(data), sort_keys=False, default_flow_style=False)


def _plain(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    return data
