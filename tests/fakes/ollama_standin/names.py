"""Model names as Ollama parses them (types/model/name.go).

"deepseek-r1:7b" is registry.ollama.ai/library/deepseek-r1:7b; a missing tag
is "latest"; "me/m" has namespace "me"; "host:5000/ns/m:t" names another
registry. A name is valid only when every part is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
_MISSING = "!MISSING!"


@dataclass(frozen=True)
class Name:
    host: str
    namespace: str
    model: str
    tag: str
    scheme: str = "https"

    @property
    def valid(self) -> bool:
        return (_part_ok("host", self.host) and _part_ok("namespace", self.namespace)
                and _part_ok("model", self.model) and _part_ok("tag", self.tag))

    def display_shortest(self) -> str:
        """"deepseek-r1:7b", "me/m:latest", "host:5000/ns/m:t"."""
        if self.host.lower() != DEFAULT_HOST:
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        else:
            prefix = ""
        return f"{prefix}{self.model}:{self.tag}"

    def filepath(self) -> PurePosixPath:
        """Its manifest's path under manifests/."""
        return PurePosixPath(self.host, self.namespace, self.model, self.tag)

    def repository(self) -> str:
        """The registry path: "library/deepseek-r1"."""
        return f"{self.namespace}/{self.model}"

    def key(self) -> tuple[str, str, str, str]:
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())


def _cut_last(text: str, sep: str) -> tuple[str, str, bool]:
    i = text.rfind(sep)
    if i < 0:
        return text, "", False
    return text[:i] or _MISSING, text[i + len(sep):] or _MISSING, True


def parse(text: str) -> Name:
    """model.ParseName: fill in the defaults for missing parts."""
    host, namespace, tag, scheme = "", "", "", "https"
    rest = text
    if rest.rfind(":") > rest.rfind("/"):
        rest, tag, _ = _cut_last(rest, ":")
    rest, model, more = _cut_last(rest, "/")
    if not more:
        model = rest
    else:
        rest, namespace, more = _cut_last(rest, "/")
        if not more:
            namespace = rest
        else:
            proto, sep, after = rest.partition("://")
            if sep:
                scheme, host = proto, after
            else:
                host = rest
    return Name(host or DEFAULT_HOST, namespace or DEFAULT_NAMESPACE, model,
                tag or DEFAULT_TAG, scheme)


def from_filepath(rel: PurePosixPath) -> Name | None:
    parts = rel.parts
    if len(parts) != 4:
        return None
    name = Name(*parts)
    return name if name.valid else None


def _part_ok(kind: str, text: str) -> bool:
    limit = 350 if kind == "host" else 80
    if not 1 <= len(text) <= limit or text == _MISSING:
        return False
    if not (text[0].isascii() and (text[0].isalnum() or text[0] == "_")):
        return False
    for ch in text[1:]:
        if ch in "_-":
            continue
        if ch == ".":
            if kind == "namespace":
                return False
            continue
        if ch == ":":
            if kind != "host":
                return False
            continue
        if not (ch.isascii() and ch.isalnum()):
            return False
    return True
