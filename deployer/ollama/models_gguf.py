"""Importing a local GGUF file as an Ollama model: the file goes up as a blob, then /api/create.

This is what ``ollama create NAME -f Modelfile`` with ``FROM ./model.gguf`` does
(docs/import.md): upload the file to ``POST /api/blobs/sha256:<hex>`` (the
server checks the digest), then ``POST /api/create`` with ``files`` naming it.
The Modelfile's other commands (TEMPLATE, SYSTEM, PARAMETER, LICENSE, MESSAGE)
become the create request's fields, as the Ollama client sends them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Callable

from deployer.errors import ModuleFailure
from deployer.ollama.api import OllamaAPI
from deployer.transfer import LocalArtifact

_COMMANDS = ("from", "template", "system", "parameter", "license", "message", "adapter")
_LIST_PARAMS = {"stop"}


class ModelfileError(ValueError):
    """A Modelfile line deployer cannot turn into a create request."""


def _unquote(arg: str) -> str:
    if len(arg) >= 2 and arg[0] == arg[-1] == '"':
        return arg[1:-1]
    return arg


def _value(text: str) -> Any:
    """PARAMETER values: numbers and booleans as such, the rest as text (as the client converts them)."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_modelfile(text: str) -> dict[str, Any]:
    """The create-request fields of a Modelfile (FROM is the GGUF being imported and is left out)."""
    fields: dict[str, Any] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        command, _, arg = line.partition(" ")
        command, arg = command.lower(), arg.strip()
        if command not in _COMMANDS:
            raise ModelfileError(f"line {number}: unknown command {command.upper()!r} "
                                 "(FROM, TEMPLATE, SYSTEM, PARAMETER, LICENSE, MESSAGE)")
        if arg.startswith('"""'):
            body = arg[3:]
            while '"""' not in body:
                if i >= len(lines):
                    raise ModelfileError(f"line {number}: unterminated \"\"\" text")
                body += "\n" + lines[i]
                i += 1
            arg = body[: body.index('"""')]
        else:
            arg = _unquote(arg)
        if command == "adapter":
            raise ModelfileError(f"line {number}: ADAPTER is not supported here: import the adapter with `ollama create` on the host")
        if command in ("template", "system"):
            fields[command] = arg
        elif command == "license":
            fields.setdefault("license", []).append(arg)
        elif command == "parameter":
            key, _, value = arg.partition(" ")
            if not value.strip():
                raise ModelfileError(f"line {number}: PARAMETER needs a name and a value")
            params = fields.setdefault("parameters", {})
            parsed = _value(_unquote(value.strip()))
            if key in _LIST_PARAMS:
                params.setdefault(key, []).append(str(parsed))
            else:
                params[key] = parsed
        elif command == "message":
            role, _, content = arg.partition(" ")
            if role not in ("system", "user", "assistant"):
                raise ModelfileError(f"line {number}: MESSAGE role must be system, user or assistant, got {role!r}")
            fields.setdefault("messages", []).append({"role": role, "content": _unquote(content.strip())})
    return fields


class _Counting:
    """A file object that reports how much of it was read (upload progress)."""

    def __init__(self, fh: BinaryIO, report: Callable[[int], None] | None) -> None:
        self.fh, self.report, self.done = fh, report, 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.done += len(data)
        if self.report and data:
            self.report(self.done)
        return data


def import_gguf(api: OllamaAPI, art: LocalArtifact, model: str, fields: dict[str, Any],
                progress: Callable[[int], None] | None = None) -> bool:
    """Upload the GGUF (unless the server has that blob) and create `model`; True when bytes were sent."""
    digest = f"sha256:{art.sha256}"
    sent = False
    if not api.blob_exists(digest):
        with open(art.path, "rb") as fh:
            api.push_blob(digest, _Counting(fh, progress), art.size)  # type: ignore[arg-type]
        sent = True
    filename = art.path.name if art.path.name.endswith(".gguf") else f"{art.path.name}.gguf"
    try:
        api.create(model, files={filename: digest}, **fields)
    except ModuleFailure as exc:
        raise ModuleFailure(f"Ollama refused to create {model} from {Path(art.path).name}: {exc.message}",
                            hint="check that the file is a GGUF model and the Modelfile's TEMPLATE/PARAMETERs") from None
    return sent
