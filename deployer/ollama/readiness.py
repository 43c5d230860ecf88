"""Is the server up? Asked through an SSH tunnel to the address it listens on (GET / -> "Ollama is running").

A server that does not come up within the wait fails the task with the tail
of its log: ``journalctl -u ollama`` under systemd (or the log file of the
daemonless ``systemctl`` some containers use), the log file in user mode.
"""

from __future__ import annotations

import shlex
import time
from typing import Callable

from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext
from deployer.ollama.api import OllamaAPI, OllamaError
from deployer.ollama.config import OllamaConfig

LOG_LINES = 40


def api(ctx: TaskContext, cfg: OllamaConfig) -> OllamaAPI:
    host, port = ctx.tunnel(cfg.api_host, cfg.port)
    return OllamaAPI(f"http://{host}:{port}", timeout=10)


def answers(ctx: TaskContext, cfg: OllamaConfig, grace: float = 5.0) -> bool:
    """Does the server answer now (allowing `grace` seconds for one that is just starting)? Read-only."""
    client = api(ctx, cfg)
    deadline = time.monotonic() + grace
    while True:
        if client.running():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def systemd_log(ctx: TaskContext) -> str:
    # the daemonless systemctl of some containers writes this file; systemd's journal has no such file
    res = ctx.probe(
        f"if [ -f /var/log/journal/ollama.service.log ]; then tail -n {LOG_LINES} /var/log/journal/ollama.service.log; "
        f"elif command -v journalctl >/dev/null 2>&1; then journalctl -u ollama -n {LOG_LINES} --no-pager 2>&1; "
        "else echo '(no journalctl on this host)'; fi"
    )
    return res.stdout.strip()


def file_log(ctx: TaskContext, path: str) -> str:
    q = shlex.quote(path)
    return ctx.probe(f"tail -n {LOG_LINES} {q} 2>&1").stdout.strip()


def wait_ready(
    ctx: TaskContext,
    cfg: OllamaConfig,
    timeout: float,
    log: Callable[[], str],
    log_name: str,
    alive: Callable[[], bool] | None = None,
) -> str:
    """Wait until the server answers; its version. Fails with the log's tail when it does not.

    `alive` (user mode) lets a server that died say so at once instead of at the timeout.
    """
    client = api(ctx, cfg)
    deadline = time.monotonic() + timeout
    reason = f"no answer on {cfg.listen} within {timeout:g}s"
    next_alive_check = time.monotonic() + 1
    while True:
        if client.running():
            try:
                return client.version()
            except OllamaError as exc:
                reason = f"it answered GET / but not /api/version: {exc}"
                break
        now = time.monotonic()
        if now >= deadline:
            break
        if alive is not None and now >= next_alive_check:
            next_alive_check = now + 1
            if not alive():
                reason = "the server exited"
                break
        time.sleep(0.5)
    raise ModuleFailure(
        f"Ollama did not come up on {ctx.host}: {reason}. Last lines of {log_name}:\n{log() or '(empty)'}",
        hint="fix what the log says (port taken? models dir not writable?), then rerun",
    )


def check_version(ctx: TaskContext, cfg: OllamaConfig, running: str, installed: str | None) -> None:
    """The server that answers must be the one installed (else something else holds the port)."""
    if installed and running.lstrip("v") != installed.lstrip("v"):
        raise ModuleFailure(
            f"the server on {cfg.listen} of {ctx.host} is Ollama {running}, but {installed} is installed and was started",
            hint="another Ollama holds that port (another user's?): choose another listen port",
        )
