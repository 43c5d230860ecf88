"""Waiting for /health on this machine (a local connection): the port, then the answer; bounded."""

from __future__ import annotations

import time
from typing import Callable

import pytest

from deployer.connection import LocalConnection
from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext
from deployer.openwebui import verify
from deployer.openwebui.config import OpenWebUIArgs
from tests.fakes.harness import free_port
from tests.fakes.openwebui.harness import FakeWebUI


def ctx() -> TaskContext:
    return TaskContext(host="localhost", connection=LocalConnection(), vars={})


def test_healthy(webui: Callable[..., FakeWebUI]) -> None:
    w = webui()
    c = ctx()
    verify.health_or_fail(c, OpenWebUIArgs(port=w.port, health_timeout=5), lambda: "unused")
    assert c.result["health_seconds"] < 5


def test_a_port_that_never_opens(webui: Callable[..., FakeWebUI]) -> None:
    start = time.monotonic()
    with pytest.raises(ModuleFailure) as exc:
        verify.health_or_fail(ctx(), OpenWebUIArgs(port=free_port(), health_timeout=2), lambda: "the log")
    assert time.monotonic() - start < 10
    assert "within 2s (last: the port never opened)" in str(exc.value) and exc.value.data == {"stderr": "the log"}


def test_an_unhealthy_answer_is_quoted(webui: Callable[..., FakeWebUI]) -> None:
    w = webui(FAKE_OPENWEBUI_UNHEALTHY="1")
    with pytest.raises(ModuleFailure, match=r'within 2s \(last: HTTP 503 \{"status": false\}\)'):
        verify.health_or_fail(ctx(), OpenWebUIArgs(port=w.port, health_timeout=2), lambda: "")
