"""The play's `frontend: {open_webui: ...}` key: the tasks it becomes, and its input errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer import playbook
from deployer.errors import InputError

PLAY = """\
- name: UI
  hosts: all
  frontend:
    open_webui:
{settings}
"""
OLLAMA = '  ollama: {version: "0.5.7", listen: "127.0.0.1:11500", source: {online: true}}\n'


def load(tmp_path: Path, settings: str, extra: str = "") -> playbook.Playbook:
    path = tmp_path / "pb.yml"
    text = PLAY.format(settings="\n".join("      " + line for line in settings.strip().splitlines()))
    path.write_text(text.replace("  frontend:", extra + "  frontend:") if extra else text)
    return playbook.load(path)


def test_two_tasks_the_admin_one_no_log(tmp_path: Path) -> None:
    pb = load(tmp_path, """
port: 3001
bind: 0.0.0.0
admin_email: admin@lab.example
admin_password: "{{ openwebui_admin_password }}"
admin_name: Lab admin
""")
    service, admin = pb.plays[0].tasks
    assert (service.name, service.action, service.origin) == ("Open WebUI: service", "open_webui", "frontend")
    assert service.args == {"port": 3001, "bind": "0.0.0.0"}
    assert (admin.name, admin.action, admin.kw.no_log) == ("Open WebUI: admin account", "open_webui_admin", True)
    assert admin.args == {"email": "admin@lab.example", "password": "{{ openwebui_admin_password }}",
                          "admin_name": "Lab admin", "port": 3001, "bind": "0.0.0.0"}


def test_the_ollama_port_comes_from_the_plays_ollama_key(tmp_path: Path) -> None:
    pb = load(tmp_path, "admin_email: a@lab.example\nadmin_password: pw", extra=OLLAMA)
    service = next(t for t in pb.plays[0].tasks if t.action == "open_webui")
    assert service.args["ollama_listen"] == "127.0.0.1:11500"
    names = [t.origin for t in pb.plays[0].tasks]
    assert names.index("frontend") > names.index("ollama")  # Ollama first, then the UI


def test_backends_do_not_take_the_local_ollama(tmp_path: Path) -> None:
    pb = load(tmp_path, "backends: [compute]\nadmin_email: a@lab.example\nadmin_password: pw",
              extra=OLLAMA)
    service = next(t for t in pb.plays[0].tasks if t.action == "open_webui")
    assert "ollama_listen" not in service.args


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("port: 3000", "needs admin_email: the first account to sign up becomes Open WebUI's admin"),
        ("prot: 3000\nadmin_email: a@lab.example\nadmin_password: pw", "open_webui: unknown argument 'prot' (did you mean 'port'?)"),
        ("port: 99999\nadmin_email: a@lab.example\nadmin_password: pw", "'port': Input should be less than or equal to 65535"),
        ("admin_email: nobody\nadmin_password: pw", "open_webui_admin: 'email': String should match pattern"),
    ],
)
def test_input_errors_point_at_the_frontend_key(tmp_path: Path, settings: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        load(tmp_path, settings)
    assert message in str(exc.value)
    assert str(exc.value).startswith(f"{tmp_path / 'pb.yml'}:3:")


def test_only_open_webui_is_a_front_end(tmp_path: Path) -> None:
    path = tmp_path / "pb.yml"
    path.write_text("- hosts: all\n  frontend:\n    nginx: {}\n")
    with pytest.raises(InputError, match="frontend takes one key, open_webui"):
        playbook.load(path)


def test_the_example_playbook_loads() -> None:
    pb = playbook.load(Path(__file__).resolve().parents[3] / "playbooks" / "frontend.yml")
    service, admin = pb.plays[0].tasks
    assert service.args["image_tarball"] == "artifacts/open-webui-v0.6.5.tar" and service.args["bind"] == "127.0.0.1"
    assert admin.kw.no_log and admin.args["password"] == "{{ openwebui_admin_password }}"
