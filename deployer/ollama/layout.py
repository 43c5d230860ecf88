"""Where Ollama lives on a host, per mode, and how such paths are written in host shell commands.

    <prefix>/ollama/<version>/        one directory per installed version (bin/, lib/ollama/)
    <prefix>/ollama/<version>/.deployer-install   written last: "<sha256>  <archive>" lines
    <prefix>/ollama/current -> <version>           what runs; switched atomically (ln -s + mv -T)
    <prefix>/ollama/previous -> <version>          what `rollback` switches back to
    <prefix>/ollama/.staging/<version>/            archives while they are uploaded (resumable)

The prefix is /opt in system mode and ~/.local/opt in user mode; the `ollama`
command on PATH is a link to current/bin/ollama in /usr/local/bin or ~/.local/bin.
Paths may start with ``~``: it is the home of whoever runs the commands on the
host, so it is expanded there (:func:`sh_path`), never on the control machine.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from deployer.hostfiles import expand_home
from deployer.ollama.config import SYSTEM_MODELS_DIR, USER_MODELS_DIR

SYSTEM_PREFIX = "/opt"
USER_PREFIX = "~/.local/opt"
MARKER = ".deployer-install"
#: user mode: where the detached server keeps its pid, its environment and its log
USER_RUN_DIR = "~/.ollama/run"
USER_LOG = "~/.ollama/logs/server.log"


@dataclass(frozen=True)
class Layout:
    """The install paths of one mode and prefix (may start with ~ until expanded)."""

    mode: str
    root: str
    link: str

    def version_dir(self, version: str) -> str:
        return f"{self.root}/{version}"

    @property
    def current(self) -> str:
        return f"{self.root}/current"

    @property
    def binary(self) -> str:
        """The binary the service runs and the PATH link points to: follows `current`."""
        return f"{self.root}/current/bin/ollama"

    def staging(self, version: str) -> str:
        return f"{self.root}/.staging/{version}"

    def expanded(self, home: str) -> "Layout":
        return Layout(self.mode, expand_home(self.root, home), expand_home(self.link, home))


def layout(mode: str, prefix: str | None) -> Layout:
    """The layout for `mode` ("system" or "user") with an optional prefix."""
    base = (prefix or (SYSTEM_PREFIX if mode == "system" else USER_PREFIX)).rstrip("/") or "/"
    link = "/usr/local/bin/ollama" if mode == "system" else "~/.local/bin/ollama"
    return Layout(mode, posixpath.join(base, "ollama"), link)


def default_models_dir(mode: str) -> str:
    return SYSTEM_MODELS_DIR if mode == "system" else USER_MODELS_DIR
