"""ollama_service: run the installed Ollama, as a systemd service or (user mode) a detached process.

    - ollama_service:
        mode: system              # or user: no root, no systemd (HPC)
        listen: 127.0.0.1:11434
        models_dir: /srv/ollama/models
        context_length: 8192

System mode: the `ollama` user, /etc/systemd/system/ollama.service as
install.sh writes it, and deployer's env drop-in; restarts only when something
changed. User mode: ``ollama serve`` under the login user with a pid file, an
env file and a log in ~/.ollama. Either way the task ends when GET / answers
"Ollama is running" through the SSH tunnel, or fails with the server log's tail.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from deployer.modules import register
from deployer.modules.base import Change, Module, TaskContext
from deployer.ollama import service
from deployer.ollama.args import ConfigArgs, config_args
from deployer.ollama.service_files import BIND_HINT, bind_problem, env_problems
from deployer.ollama.stack import SERVICE_FIELDS


class _ServiceBase(ConfigArgs):
    state: Literal["started", "stopped"] = Field(
        "started", description="started: running (restarted when its settings or binary changed); stopped: not running."
    )
    wait: float = Field(60, gt=0, description="Seconds to wait for the server to answer after a (re)start.")

    @model_validator(mode="after")
    def _rules(self) -> "_ServiceBase":
        cfg = self.config()
        problem = bind_problem(cfg)
        if problem:
            raise ValueError(f"{problem}: {BIND_HINT}")
        problems = env_problems(cfg)
        if problems:
            raise ValueError("; ".join(problems))
        return self


ServiceArgs = config_args("ServiceArgs", _ServiceBase, SERVICE_FIELDS, __name__)


@register
class OllamaServiceModule(Module[_ServiceBase]):
    """Configure, start (or stop) the Ollama server and wait until it answers."""

    name = "ollama_service"
    Args = ServiceArgs

    def check(self, ctx: TaskContext, args: _ServiceBase) -> Change | None:
        return service.check(ctx, args.config(), args.state, args.wait)

    def apply(self, ctx: TaskContext, args: _ServiceBase, change: Change) -> None:
        service.apply(change)
