"""Modelfiles for ``ollama create -f``: FROM, PARAMETER, TEMPLATE, SYSTEM, LICENSE, MESSAGE, ADAPTER.

Turned into a create request the way the real client does: a FROM naming an
existing file (relative to the Modelfile, or ~) becomes ``files`` (uploaded as
blobs first), anything else is a model name in ``from``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

_COMMANDS = {"from", "parameter", "template", "system", "license", "message", "adapter"}
_INT_PARAMS = {"num_ctx", "num_predict", "seed", "top_k", "num_keep", "repeat_last_n", "num_gpu",
               "num_thread", "num_batch", "mirostat", "main_gpu"}
_LIST_PARAMS = {"stop"}


class ModelfileError(Exception):
    pass


def parse(text: str) -> list[tuple[str, str]]:
    """(command, argument) pairs; triple-quoted arguments may span lines."""
    commands: list[tuple[str, str]] = []
    lines = iter(text.splitlines())
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        cmd, _, arg = stripped.partition(" ")
        cmd, arg = cmd.lower(), arg.strip()
        if cmd not in _COMMANDS:
            raise ModelfileError('command must be one of "from", "license", "template", "system", '
                                 '"adapter", "parameter", or "message"')
        if arg.startswith('"""'):
            body = arg[3:]
            while '"""' not in body:
                try:
                    body += "\n" + next(lines)
                except StopIteration:
                    raise ModelfileError("unexpected EOF") from None
            arg = body[:body.index('"""')]
        elif len(arg) >= 2 and arg[0] == arg[-1] == '"':
            arg = arg[1:-1]
        commands.append((cmd, arg))
    if not any(c == "from" for c, _ in commands):
        raise ModelfileError("no FROM line")
    return commands


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def _expand(arg: str, relative_to: Path) -> Path:
    if arg.startswith("~"):
        return Path(os.path.expanduser(arg)).absolute()
    path = Path(arg)
    return path.absolute() if path.is_absolute() else (relative_to / path).absolute()


def create_request(commands: list[tuple[str, str]], relative_to: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The create request and the local files (path -> digest) to upload first."""
    req: dict[str, Any] = {}
    uploads: dict[str, str] = {}
    params: dict[str, Any] = {}
    licenses: list[str] = []
    messages: list[dict[str, str]] = []
    for cmd, arg in commands:
        if cmd == "from":
            path = _expand(arg, relative_to)
            if path.is_file():
                uploads[str(path)] = _digest(path)
            else:
                req["from"] = arg
        elif cmd == "adapter":
            path = _expand(arg, relative_to)
            uploads[str(path)] = _digest(path)
            req.setdefault("adapters", {})[path.name] = uploads[str(path)]
        elif cmd in ("template", "system"):
            req[cmd] = arg
        elif cmd == "license":
            licenses.append(arg)
        elif cmd == "message":
            role, _, content = arg.partition(" ")
            messages.append({"role": role, "content": content})
        else:
            key, _, value = arg.partition(" ")
            value = value.strip().strip('"')
            if key in _LIST_PARAMS:
                params.setdefault(key, []).append(value)
            elif key in _INT_PARAMS:
                params[key] = int(value)
            else:
                try:
                    params[key] = float(value)
                except ValueError:
                    params[key] = value
    files = {Path(p).name: d for p, d in uploads.items() if Path(p).name not in req.get("adapters", {})}
    if files:
        req["files"] = files
    if params:
        req["parameters"] = params
    if licenses:
        req["license"] = licenses
    if messages:
        req["messages"] = messages
    return req, uploads
