"""CLI verbs that move or use models: pull, run, create, show.

Progress goes to stderr as plain lines (the real client draws spinners and
bars there; nothing should parse them). Answers go to stdout; ``run --verbose``
prints Ollama's timing block on stderr, ending in ``eval rate: N tokens/s``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from . import goish, modelfile
from .cli import CliError, Invocation
from .client import Client, ClientError


class Progress:
    """Status lines and one finished bar per layer, on stderr."""

    def __init__(self) -> None:
        self.status = ""
        self.finished: set[str] = set()

    def update(self, event: dict[str, Any]) -> None:
        digest = event.get("digest")
        if digest:
            total, done = int(event.get("total") or 0), int(event.get("completed") or 0)
            if total and done >= total and digest not in self.finished:
                self.finished.add(digest)
                bar = "█" * 18
                self._line(f"pulling {digest[7:19]}... 100% ▕{bar}▏ {goish.human_bytes(total)}")
        elif event.get("status") and event["status"] != self.status:
            self.status = event["status"]
            self._line(self.status)

    @staticmethod
    def _line(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def pull_handler(client: Client, inv: Invocation) -> None:
    client.stream("/api/pull", {"name": inv.args[0], "insecure": bool(inv.flags.get("insecure"))},
                  Progress().update)


def _summary(final: dict[str, Any]) -> None:
    out = sys.stderr
    if final.get("total_duration"):
        out.write(f"total duration:       {goish.duration_string(final['total_duration'])}\n")
    if final.get("load_duration"):
        out.write(f"load duration:        {goish.duration_string(final['load_duration'])}\n")
    if final.get("prompt_eval_count"):
        out.write(f"prompt eval count:    {final['prompt_eval_count']} token(s)\n")
    if final.get("prompt_eval_duration"):
        out.write(f"prompt eval duration: {goish.duration_string(final['prompt_eval_duration'])}\n")
        rate = final.get("prompt_eval_count", 0) / (final["prompt_eval_duration"] / goish.SECOND)
        out.write(f"prompt eval rate:     {rate:.2f} tokens/s\n")
    if final.get("eval_count"):
        out.write(f"eval count:           {final['eval_count']} token(s)\n")
    if final.get("eval_duration"):
        out.write(f"eval duration:        {goish.duration_string(final['eval_duration'])}\n")
        out.write(f"eval rate:            {final['eval_count'] / (final['eval_duration'] / goish.SECOND):.2f} tokens/s\n")
    out.flush()


def _generate(client: Client, inv: Invocation, prompt: str) -> None:
    req: dict[str, Any] = {"model": inv.args[0], "prompt": prompt, "context": [], "options": {}}
    if inv.flags.get("format"):
        req["format"] = inv.flags["format"]
    if inv.flags.get("keepalive"):
        try:
            req["keep_alive"] = goish.duration_string(goish.parse_duration(str(inv.flags["keepalive"])))
        except ValueError as exc:
            raise CliError(str(exc)) from None
    latest: dict[str, Any] = {}

    def show(event: dict[str, Any]) -> None:
        latest.clear()
        latest.update(event)
        sys.stdout.write(event.get("response", ""))
        sys.stdout.flush()

    client.stream("/api/generate", req, show)
    if prompt:
        sys.stdout.write("\n\n")
        sys.stdout.flush()
    if latest.get("done") and inv.flags.get("verbose"):
        _summary(latest)


def run_handler(client: Client, inv: Invocation) -> None:
    prompts = inv.args[1:]
    interactive = True
    if not sys.stdin.isatty():
        prompts = [sys.stdin.read()] + prompts
        interactive = False
    if prompts:
        interactive = False
    if not sys.stdout.isatty():
        interactive = False
    name = inv.args[0]
    try:
        client.do("POST", "/api/show", {"name": name})
    except ClientError as exc:
        if exc.status != 404:
            raise
        pull_handler(client, Invocation("pull", [name], {"insecure": inv.flags.get("insecure", False)}))
        client.do("POST", "/api/show", {"name": name})
    if not interactive:
        _generate(client, inv, " ".join(prompts))
        return
    client.stream("/api/generate", {"model": name}, lambda _: None)
    while True:
        try:
            line = input(">>> ")
        except EOFError:
            print()
            return
        if line.strip() in ("/bye", "/exit"):
            return
        if line.strip():
            _generate(client, inv, line)


def create_handler(client: Client, inv: Invocation) -> None:
    path = Path(str(inv.flags.get("file") or "Modelfile")).absolute()
    if not path.is_file():
        raise CliError("specified Modelfile wasn't found")
    progress = Progress()
    try:
        commands = modelfile.parse(path.read_text())
        progress.update({"status": "gathering model components"})
        req, uploads = modelfile.create_request(commands, path.parent)
    except (modelfile.ModelfileError, OSError) as exc:
        raise CliError(str(exc)) from None
    req["name"] = inv.args[0]
    if inv.flags.get("quantize"):
        req["quantize"] = inv.flags["quantize"]
    for file_path, digest in uploads.items():
        progress.update({"status": f"copying file {digest} 100%"})
        client.upload_blob(digest, os.path.realpath(file_path))
    client.stream("/api/create", req, progress.update)


def _rows(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(max(len(r) for r in rows))]
    return "".join("".join(cell.ljust(widths[i]) + "    " for i, cell in enumerate(r)) + "\n" for r in rows)


def show_handler(client: Client, inv: Invocation) -> None:
    chosen = [k for k in ("license", "modelfile", "parameters", "system", "template") if inv.flags.get(k)]
    if len(chosen) > 1:
        raise CliError("only one of '--license', '--modelfile', '--parameters', '--system', "
                       "or '--template' can be specified")
    resp = client.do("POST", "/api/show", {"name": inv.args[0]})
    if chosen:
        text = resp.get(chosen[0], "")
        sys.stdout.write(text if chosen[0] in ("system", "template") else text + "\n")
        return
    info, details = resp.get("model_info") or {}, resp.get("details") or {}
    if info:
        arch = str(info.get("general.architecture", ""))
        model_rows = [["", "architecture", arch],
                      ["", "parameters", goish.human_number(int(info.get("general.parameter_count", 0)))],
                      ["", "context length", str(info.get(f"{arch}.context_length", 0))],
                      ["", "embedding length", str(info.get(f"{arch}.embedding_length", 0))]]
    else:
        model_rows = [["", "architecture", details.get("family", "")],
                      ["", "parameters", details.get("parameter_size", "")]]
    model_rows.append(["", "quantization", details.get("quantization_level", "")])
    out = ["  Model\n" + _rows(model_rows) + "\n"]
    if resp.get("parameters"):
        rows = [[""] + line.split() for line in resp["parameters"].splitlines() if line.strip()]
        out.append("  Parameters\n" + _rows(rows) + "\n")
    for key, title in (("system", "System"), ("license", "License")):
        if resp.get(key):
            lines = [["", ln.strip()] for ln in resp[key].splitlines() if ln.strip()][:2]
            out.append(f"  {title}\n" + _rows(lines) + "\n")
    sys.stdout.write("".join(out))
