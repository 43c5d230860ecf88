"""ollama_install: Ollama from a release archive, offline, into versioned directories.

    - ollama_install:
        version: "0.5.7"
        source:
          tarball: artifacts/ollama-linux-{{ deployer_facts.arch }}.tgz
          sha256sums: artifacts/sha256sum.txt

Checks the archive's architecture and the host's glibc before anything is
sent, pushes only what the host lacks (resumable, verified), unpacks into
``<prefix>/ollama/<version>`` and switches ``current`` to it; ``rollback: true``
switches back. See deployer/ollama/install.py for how, and layout.py for where.
Importing this module also registers the play-level ``ollama:`` key.
"""

from __future__ import annotations

from pydantic import model_validator

from deployer.modules import register
from deployer.modules.base import Change, Module, TaskContext
from deployer.ollama import install
from deployer.ollama.args import ConfigArgs, config_args
from deployer.ollama.sources import source_problem
from deployer.ollama.stack import expand_ollama
from deployer.playbook import register_stack_key


class _InstallBase(ConfigArgs):
    @model_validator(mode="after")
    def _source(self) -> "_InstallBase":
        cfg = self.config()
        problem = None if cfg.rollback else source_problem(cfg.source)
        if problem:
            raise ValueError(": ".join(p for p in problem if p))
        return self


InstallArgs = config_args("InstallArgs", _InstallBase, ("version", "source", "rollback", "mode", "prefix", "transfer"), __name__)


@register
class OllamaInstallModule(Module[ConfigArgs]):
    """Install (or roll back) an Ollama version on the host."""

    name = "ollama_install"
    Args = InstallArgs
    #: the archive choice and its pre-flight (arch, glibc) need facts only
    plans_from_facts = True

    def check(self, ctx: TaskContext, args: ConfigArgs) -> Change | None:
        return install.check(ctx, args.config())

    def apply(self, ctx: TaskContext, args: ConfigArgs, change: Change) -> None:
        install.apply(ctx, args.config(), change)


#: before models (which need a running server), frontends and verification
register_stack_key("ollama", 10, expand_ollama)
