"""The CLI in-process: exit codes, one-line errors, and the commands that need no host."""

from __future__ import annotations

import io
import json
from pathlib import Path

from deployer.cli import Env, main
from deployer.errors import ExitStatus


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(args), Env(stdout=out, stderr=err, environ={}, getpass=lambda p: "pw", color=False))
    return int(rc), out.getvalue(), err.getvalue()


def test_usage_error_is_2():
    rc, _, err = cli("run")
    assert rc == ExitStatus.USAGE and "Missing argument" in err


def test_bad_input_is_3_with_one_line(tmp_path: Path):
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  tasks:\n    - comand: ls\n")
    rc, _, err = cli("run", str(pb), "-i", "localhost,")
    assert rc == ExitStatus.BAD_INPUT
    assert err.startswith(f"error: {pb}:3:7: unknown module or task keyword 'comand'")
    assert "Traceback" not in err


def test_run_ok_and_json(tmp_path: Path):
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: localhost\n  tasks:\n    - debug: {msg: 'hi {{ inventory_hostname }}'}\n")
    rc, out, err = cli("run", str(pb), "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["stats"]["localhost"]["ok"] == 1
    assert "hi localhost" in err and "PLAY RECAP" in err


def test_failed_host_is_4(tmp_path: Path):
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: localhost\n  tasks:\n    - fail: {msg: nope}\n")
    rc, _, err = cli("run", str(pb))
    assert rc == ExitStatus.HOST_FAILED and "nope" in err


def test_list_tasks_and_hosts(tmp_path: Path):
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  tasks:\n    - name: first\n      debug: {msg: a}\n      tags: [x]\n")
    rc, out, _ = cli("run", str(pb), "-i", "h1,h2,", "--list-tasks", "--list-hosts")
    assert rc == 0
    assert "first  TAGS: [x]" in out and "      h1" in out and "      h2" in out


def test_extra_vars_forms(tmp_path: Path):
    (tmp_path / "v.yml").write_text("b: 2\n")
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: localhost\n  tasks:\n    - assert: {that: ['a == \"1\"', 'b == 2', 'c == [1]']}\n")
    rc, _, err = cli("run", str(pb), "-e", "a=1", "-e", f"@{tmp_path / 'v.yml'}", "-e", '{"c": [1]}')
    assert rc == 0, err
    rc, _, err = cli("run", str(pb), "-e", "novalue")
    assert rc == ExitStatus.USAGE and "key=value" in err


def test_facts_requires_check(tmp_path: Path):
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: localhost\n  tasks: []\n")
    rc, _, err = cli("run", str(pb), "--facts", str(tmp_path / "f.json"))
    assert rc == ExitStatus.USAGE and "--check" in err


def test_validate(tmp_path: Path):
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  tasks:\n    - debug: {msg: a}\n")
    rc, _, err = cli("validate", str(pb), "-i", "h1,")
    assert rc == 0 and "ok (1 plays, 1 tasks" in err


def test_inventory_list_and_host():
    rc, out, _ = cli("inventory", "-i", "h1,h2,", "--list")
    assert rc == 0 and json.loads(out)["ungrouped"]["hosts"] == ["h1", "h2"]
    rc, _, err = cli("inventory", "-i", "h1,")
    assert rc == ExitStatus.USAGE


def test_recommend_hardware_json():
    rc, out, err = cli("recommend", "--hardware", "gpu=RTX 4090", "-m", "deepseek-r1", "--json")
    assert rc == 0, err
    (d,) = json.loads(out)
    assert d["model"] == "deepseek-r1:32b" and d["placement"] == "gpu" and "RTX 4090" in d["reason"]
    rc, _, err = cli("recommend", "--hardware", "gpu=RTX 9999")
    assert rc == ExitStatus.BAD_INPUT and "RTX" in err


def test_recommend_from_facts_file(tmp_path: Path):
    from deployer.llm.spec import parse_hardware_spec

    f = parse_hardware_spec("gpu=A100 80GB,ram=256", hostname="node01")
    (tmp_path / "facts.json").write_text(json.dumps({"hosts": {"node01": f.model_dump(mode="json")}}))
    rc, out, err = cli("recommend", "--facts", str(tmp_path / "facts.json"), "-m", "llama3.1", "--json")
    assert rc == 0, err
    assert json.loads(out)[0]["host"] == "node01" and json.loads(out)[0]["model"] == "llama3.1:70b"


def test_modules_listing():
    rc, _, err = cli("modules")
    assert rc == 0 and "copy" in err and "lineinfile" in err
    rc, _, err = cli("modules", "copy")
    assert rc == 0 and "dest" in err and "required" in err
    rc, _, err = cli("modules", "cpy")
    assert rc == ExitStatus.USAGE and "copy" in err
