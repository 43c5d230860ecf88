"""The ``ollama`` command line: verbs, flags, output and exit codes as the real client's.

Errors print as ``Error: <message>`` on stderr with exit status 1 (cobra.CheckErr);
every verb but ``serve`` and ``-v`` first checks that a server answers.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Callable

from . import config, goish
from .client import Client, ClientError, Unreachable

_FLAGS: dict[str, dict[str, str]] = {  # flag -> "bool" or "value", per command
    "create": {"file": "value", "f": "file", "quantize": "value", "q": "quantize"},
    "show": {"license": "bool", "modelfile": "bool", "parameters": "bool", "template": "bool", "system": "bool"},
    "run": {"keepalive": "value", "verbose": "bool", "insecure": "bool", "nowordwrap": "bool", "format": "value"},
    "pull": {"insecure": "bool"},
}
_ARGS = {"create": (1, 1), "show": (1, 1), "run": (1, None), "stop": (1, 1), "serve": (0, 0),
         "pull": (1, 1), "list": (0, None), "ps": (0, None), "cp": (2, 2), "rm": (1, None)}
_ALIASES = {"start": "serve", "ls": "list"}
USAGE = """Large language model runner

Usage:
  ollama [flags]
  ollama [command]

Available Commands:
  serve       Start ollama
  create      Create a model from a Modelfile
  show        Show information for a model
  run         Run a model
  stop        Stop a running model
  pull        Pull a model from a registry
  list        List models
  ps          List running models
  cp          Copy a model
  rm          Remove a model
  help        Help about any command

Flags:
  -h, --help      help for ollama
  -v, --version   Show version information

Use "ollama [command] --help" for more information about a command.
"""


class CliError(Exception):
    pass


@dataclass
class Invocation:
    command: str
    args: list[str] = field(default_factory=list)
    flags: dict[str, object] = field(default_factory=dict)


def parse_argv(argv: list[str]) -> Invocation:
    if not argv:
        return Invocation("help")
    if argv[0] in ("-v", "--version"):
        return Invocation("version")
    if argv[0] in ("-h", "--help", "help"):
        return Invocation("help")
    command = _ALIASES.get(argv[0], argv[0])
    if command not in _ARGS:
        raise CliError(f'unknown command "{argv[0]}" for "ollama"\nRun \'ollama --help\' for usage.')
    spec = _FLAGS.get(command, {})
    inv = Invocation(command)
    rest = iter(argv[1:])
    for arg in rest:
        if arg == "--":
            inv.args.extend(rest)
            break
        if arg.startswith("-") and arg != "-":
            key, eq, value = arg.lstrip("-").partition("=")
            long = spec.get(key, "")
            if long not in ("bool", "value", ""):
                key, long = long, spec[long]
            if arg in ("-h", "--help"):
                inv.command = "help"
                return inv
            if not long:
                prefix = "unknown flag: " if arg.startswith("--") else "unknown shorthand flag: "
                raise CliError(prefix + (arg.split("=")[0] if arg.startswith("--") else f"'{key[0]}' in {arg}"))
            if long == "bool":
                inv.flags[key] = value.lower() not in ("false", "0") if eq else True
            else:
                if not eq:
                    try:
                        value = next(rest)
                    except StopIteration:
                        raise CliError(f"flag needs an argument: {arg}") from None
                inv.flags[key] = value
            continue
        inv.args.append(arg)
    low, high = _ARGS[command]
    n = len(inv.args)
    if high is not None and low == high and n != low:
        raise CliError(f"accepts {low} arg(s), received {n}")
    if n < low:
        raise CliError(f"requires at least {low} arg(s), only received {n}")
    return inv


def version_handler(client: Client) -> None:
    server_version = ""
    try:
        server_version = client.do("GET", "/api/version")["version"]
    except (ClientError, KeyError, TypeError):
        print("Warning: could not connect to a running Ollama instance")
    if server_version:
        print(f"ollama version is {server_version}")
    if server_version != config.version():
        print(f"Warning: client version is {config.version()}")


def heartbeat(client: Client) -> None:
    try:
        client.heartbeat()
    except Unreachable as exc:
        if " refused" in str(exc) or "could not connect" in str(exc):
            raise CliError("could not connect to ollama server, run 'ollama serve' to start it") from None
        raise CliError(str(exc)) from None


def list_handler(client: Client, inv: Invocation) -> None:
    rows = []
    for m in client.do("GET", "/api/tags")["models"]:
        if not inv.args or m["name"].lower().startswith(inv.args[0].lower()):
            modified = goish.parse_rfc3339(m["modified_at"])
            rows.append([m["name"], m["digest"][:12], goish.human_bytes(m["size"]),
                         goish.human_time(modified, "Never")])
    sys.stdout.write(goish.table(["NAME", "ID", "SIZE", "MODIFIED"], rows))


def processor(size: int, size_vram: int) -> str:
    if size_vram == 0:
        return "100% CPU"
    if size_vram == size:
        return "100% GPU"
    if size_vram > size or size == 0:
        return "Unknown"
    cpu = math.floor((size - size_vram) / size * 100 + 0.5)  # Go's math.Round: half away from zero
    return f"{cpu}%/{100 - cpu}% CPU/GPU"


def ps_handler(client: Client, inv: Invocation) -> None:
    with_ctx = config.at_least("0.10.0")
    rows = []
    for m in client.do("GET", "/api/ps")["models"]:
        if inv.args and not m["name"].startswith(inv.args[0]):
            continue
        expires = goish.parse_rfc3339(m["expires_at"])
        delta = goish.now_local() - expires
        until = "Stopping..." if delta.total_seconds() > 0 else goish.human_time(expires, "Never")
        row = [m["name"], m["digest"][:12], goish.human_bytes(m["size"]), processor(m["size"], m["size_vram"])]
        if with_ctx:
            row.append(str(m.get("context_length", 0)))
        rows.append(row + [until])
    headers = ["NAME", "ID", "SIZE", "PROCESSOR"] + (["CONTEXT"] if with_ctx else []) + ["UNTIL"]
    sys.stdout.write(goish.table(headers, rows))


def unload(client: Client, model: str) -> None:
    client.stream("/api/generate", {"model": model, "keep_alive": 0}, lambda _: None)


def stop_handler(client: Client, inv: Invocation) -> None:
    try:
        unload(client, inv.args[0])
    except ClientError as exc:
        if "not found" in str(exc):
            raise CliError(f'couldn\'t find model "{inv.args[0]}" to stop') from None


def rm_handler(client: Client, inv: Invocation) -> None:
    try:
        unload(client, inv.args[0])
    except ClientError as exc:
        if "not found" not in str(exc):
            raise CliError(f'unable to stop existing running model "{inv.args[0]}": {exc}') from None
    for name in inv.args:
        client.do("DELETE", "/api/delete", {"name": name})
        print(f"deleted '{name}'")


def cp_handler(client: Client, inv: Invocation) -> None:
    client.do("POST", "/api/copy", {"source": inv.args[0], "destination": inv.args[1]})
    print(f"copied '{inv.args[0]}' to '{inv.args[1]}'")


def _name_process() -> None:
    """Call the process "ollama" (its comm), so pgrep -x / ps -C / pidof see what they would."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, b"ollama", 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    from . import cli_models, serve as serve_mod
    _name_process()
    try:
        inv = parse_argv(argv)
        if inv.command == "help":
            sys.stdout.write(USAGE)
            return 0
        client = Client()
        if inv.command == "version":
            version_handler(client)
            return 0
        if inv.command == "serve":
            serve_mod.serve()
            return 0
        heartbeat(client)
        handlers: dict[str, Callable[[Client, Invocation], None]] = {
            "list": list_handler, "ps": ps_handler, "stop": stop_handler, "rm": rm_handler,
            "cp": cp_handler, "pull": cli_models.pull_handler, "run": cli_models.run_handler,
            "create": cli_models.create_handler, "show": cli_models.show_handler}
        handlers[inv.command](client, inv)
        return 0
    except (CliError, ClientError, serve_mod.ServeError) as exc:
        sys.stdout.flush()
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
