"""open_webui_admin against a running Open WebUI stand-in on this machine (a local connection)."""

from __future__ import annotations

from typing import Callable

import pytest

from deployer.connection import LocalConnection
from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext, execute
from deployer.modules.open_webui import OpenWebUIAdminModule
from deployer.openwebui import http
from deployer.openwebui.config import AdminArgs
from tests.fakes.harness import free_port
from tests.fakes.openwebui.harness import FakeWebUI

PASSWORD = "s3cret-admin-pass"


def ctx(check: bool = False, pending: bool = False) -> TaskContext:
    return TaskContext(host="localhost", connection=LocalConnection(), vars={}, check_mode=check, earlier_changes_pending=pending)


def admin(port: int, email: str = "admin@lab.example", password: str = PASSWORD) -> AdminArgs:
    return AdminArgs(email=email, password=password, port=port)


def test_created_once_then_ok(webui: Callable[..., FakeWebUI]) -> None:
    w = webui()
    first = ctx()
    change = execute(OpenWebUIAdminModule(), first, admin(w.port))
    assert change is not None and change.summary == "create the admin account admin@lab.example"
    assert first.result == {"admin": "admin@lab.example", "role": "admin", "created": True}
    again = ctx()
    assert execute(OpenWebUIAdminModule(), again, admin(w.port)) is None
    assert again.result["role"] == "admin"
    status, body = http.call(w.url, "POST", "/api/v1/auths/signin", {"email": "admin@lab.example", "password": PASSWORD})
    assert status == 200 and body["role"] == "admin"


def test_check_mode_creates_nothing(webui: Callable[..., FakeWebUI]) -> None:
    w = webui()
    assert execute(OpenWebUIAdminModule(), ctx(check=True), admin(w.port)) is not None
    assert http.call(w.url, "GET", "/api/config")[1]["onboarding"] is True


def test_ui_not_running(webui: Callable[..., FakeWebUI]) -> None:
    port = free_port()
    change = execute(OpenWebUIAdminModule(), ctx(check=True, pending=True), admin(port))
    assert change is not None and "once Open WebUI runs" in change.summary
    with pytest.raises(ModuleFailure, match="does not answer /health"):
        execute(OpenWebUIAdminModule(), ctx(), admin(port))


def test_other_accounts_and_a_wrong_password_are_refused(webui: Callable[..., FakeWebUI]) -> None:
    w = webui()
    execute(OpenWebUIAdminModule(), ctx(), admin(w.port, "first@lab.example"))
    with pytest.raises(ModuleFailure, match="already has accounts, and admin@lab.example cannot sign in") as exc:
        execute(OpenWebUIAdminModule(), ctx(), admin(w.port))
    assert "never resets passwords" in str(exc.value) and PASSWORD not in str(exc.value)


def test_an_existing_non_admin_account_is_refused(webui: Callable[..., FakeWebUI]) -> None:
    w = webui(ENABLE_SIGNUP="True")
    execute(OpenWebUIAdminModule(), ctx(), admin(w.port, "boss@lab.example"))
    w.stop()
    w.start(ENABLE_SIGNUP="True")  # persistent config off: signup is open again after a restart
    status, body = http.call(w.url, "POST", "/api/v1/auths/signup", {"name": "u", "email": "user@lab.example", "password": "pw"})
    assert status == 200 and body["role"] == "pending"
    with pytest.raises(ModuleFailure, match="is a 'pending', not an admin"):
        execute(OpenWebUIAdminModule(), ctx(), admin(w.port, "user@lab.example", "pw"))


def test_a_release_that_refuses_the_first_signup(webui: Callable[..., FakeWebUI]) -> None:
    w = webui(ENABLE_INITIAL_ADMIN_SIGNUP="False")
    with pytest.raises(ModuleFailure, match="run once with enable_signup: true"):
        execute(OpenWebUIAdminModule(), ctx(), admin(w.port))


def test_generated_password_kept_on_the_host_and_reused(webui: Callable[..., FakeWebUI], tmp_path) -> None:
    w = webui()
    pw_file = tmp_path / "conf" / "admin.password"
    args = AdminArgs(email="admin@lab.example", password="", port=w.port, password_file=str(pw_file))
    plan = execute(OpenWebUIAdminModule(), ctx(check=True), args)
    assert plan is not None and f"password generated on the host into {pw_file}" in plan.summary
    assert not pw_file.exists()  # --check wrote nothing
    first = ctx()
    execute(OpenWebUIAdminModule(), first, args)
    password = pw_file.read_text().strip()
    assert len(password) == 24 and oct(pw_file.stat().st_mode & 0o777) == "0o600"
    assert first.result["password_file"] == str(pw_file) and password not in repr(first.result)
    status, body = http.call(w.url, "POST", "/api/v1/auths/signin", {"email": "admin@lab.example", "password": password})
    assert status == 200 and body["role"] == "admin"
    # later runs sign in with the stored password: nothing to do, nothing regenerated
    assert execute(OpenWebUIAdminModule(), ctx(), args) is None
    assert pw_file.read_text().strip() == password
