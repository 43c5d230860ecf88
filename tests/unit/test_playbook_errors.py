"""Bad playbooks: one clear `path:line:col: message (hint)` each, found before any host is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer import playbook
from deployer.errors import InputError, InputErrors


def load(tmp_path: Path, text: str) -> playbook.Playbook:
    p = tmp_path / "pb.yml"
    p.write_text(text)
    return playbook.load(p)


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InputError) as exc:
        load(tmp_path, text)
    err = exc.value
    return [str(e) for e in err.errors] if isinstance(err, InputErrors) else [str(err)]


def test_valid_playbook_loads(tmp_path):
    pb = load(tmp_path, "- hosts: all\n  tasks:\n    - name: hi\n      debug: {msg: hi}\n    - command: echo {{ x }}\n")
    assert [t.action for t in pb.plays[0].tasks] == ["debug", "command"]
    assert pb.plays[0].tasks[1].args == {"cmd": "echo {{ x }}"}


def test_malformed_yaml_points_at_the_line(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  tasks:\n    - debug: {msg: hi\n")
    assert msg.startswith(f"{tmp_path}/pb.yml:4:1: invalid YAML")


def test_duplicate_key_is_an_error(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  hosts: web\n  tasks: []\n")
    assert f"{tmp_path}/pb.yml:2:3: duplicate key 'hosts' (first defined at line 1)" in msg


def test_unknown_play_key_suggests(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  taks: []\n")
    assert "pb.yml:2:3: unknown play key 'taks'" in msg and "did you mean 'tasks'" in msg


def test_unknown_module_suggests(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  tasks:\n    - comand: ls\n")
    assert "pb.yml:3:7: unknown module or task keyword 'comand'" in msg and "'command'" in msg


def test_unknown_module_argument_suggests(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  tasks:\n    - copy:\n        dest: /x\n        contnet: hi\n")
    assert "pb.yml:5:9: copy: unknown argument 'contnet'" in msg and "did you mean 'content'" in msg


def test_wrong_type_of_keyword(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  serial: {a: 1}\n  tasks: []\n")
    assert "pb.yml:2:11: 'serial': expected an integer, a string or a list" in msg


def test_templated_arguments_are_not_type_checked(tmp_path):
    pb = load(tmp_path, "- hosts: all\n  tasks:\n    - wait_for: {port: '{{ p }}', timeout: 5}\n")
    assert pb.plays[0].tasks[0].args["port"] == "{{ p }}"


def test_wrong_argument_type_without_template(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  tasks:\n    - wait_for: {port: [1, 2]}\n")
    assert "pb.yml:3:24: wait_for: 'port'" in msg


def test_missing_hosts(tmp_path):
    (msg,) = errors_of(tmp_path, "- name: x\n  tasks: []\n")
    assert "missing required key 'hosts'" in msg and "hosts: all" in msg


def test_task_with_two_modules(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  tasks:\n    - debug: {msg: a}\n      command: ls\n")
    assert "several modules" in msg and "pb.yml:4:7" in msg


def test_notify_unknown_handler(tmp_path):
    (msg,) = errors_of(
        tmp_path,
        "- hosts: all\n  tasks:\n    - command: ls\n      notify: restart ollam\n  handlers:\n    - name: restart ollama\n      debug: {msg: r}\n",
    )
    assert "notify names no handler: 'restart ollam'" in msg and "did you mean 'restart ollama'" in msg


def test_missing_vars_file(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  vars_files: [nope.yml]\n  tasks: []\n")
    assert "pb.yml:2:16: vars file 'nope.yml' not found" in msg


def test_unsupported_keyword_says_what_to_do(tmp_path):
    (msg,) = errors_of(tmp_path, "- hosts: all\n  tasks:\n    - block:\n        - debug: {msg: a}\n")
    assert "'block' is not supported" in msg and "when:" in msg


def test_all_errors_reported_together(tmp_path):
    msgs = errors_of(tmp_path, "- hosts: all\n  taks: []\n- hosts: all\n  tasks:\n    - comand: ls\n")
    assert len(msgs) == 2


def test_not_a_list(tmp_path):
    (msg,) = errors_of(tmp_path, "hosts: all\n")
    assert "a playbook must be a list of plays" in msg


def test_free_form_kv_arguments(tmp_path):
    pb = load(tmp_path, "- hosts: all\n  tasks:\n    - copy: content=hi dest=/tmp/x mode=0644\n")
    assert pb.plays[0].tasks[0].args == {"content": "hi", "dest": "/tmp/x", "mode": "0644"}


def test_ansible_builtin_names(tmp_path):
    pb = load(tmp_path, "- hosts: all\n  tasks:\n    - ansible.builtin.debug: {msg: hi}\n")
    assert pb.plays[0].tasks[0].action == "debug"


def test_import_tasks(tmp_path):
    (tmp_path / "more.yml").write_text("- debug: {msg: one}\n- debug: {msg: two}\n")
    pb = load(tmp_path, "- hosts: all\n  tasks:\n    - import_tasks: more.yml\n      tags: [x]\n")
    assert [t.kw.tags for t in pb.plays[0].tasks] == [["x"], ["x"]]


def test_template_syntax_error_located(tmp_path):
    from deployer import validate
    from deployer.inventory import load_inventory

    pb = load(tmp_path, "- hosts: all\n  tasks:\n    - debug:\n        msg: '{{ x | nofilter }}'\n")
    with pytest.raises(InputError) as exc:
        validate.check([pb], load_inventory(["h1,"]), {"x": 1})
    assert "pb.yml:4:9" in str(exc.value) and "No filter named 'nofilter'" in str(exc.value)


def test_undefined_variable_found_before_run(tmp_path):
    from deployer import validate
    from deployer.inventory import load_inventory

    pb = load(tmp_path, "- hosts: all\n  vars: {model_name: x}\n  tasks:\n    - debug:\n        msg: '{{ modle_name }}'\n")
    with pytest.raises(InputError) as exc:
        validate.check([pb], load_inventory(["h1,"]), {})
    assert "pb.yml:5:9: undefined variable 'modle_name'" in str(exc.value)
    assert "did you mean 'model_name'" in str(exc.value)


def test_registered_and_loop_vars_are_known(tmp_path):
    from deployer import validate
    from deployer.inventory import load_inventory

    pb = load(
        tmp_path,
        "- hosts: all\n  tasks:\n    - command: ls\n      register: r\n    - debug: {msg: '{{ r.stdout }} {{ item }}'}\n      loop: [1]\n"
        "    - assert: {that: ['r.rc == 0', 'inventory_hostname is defined']}\n",
    )
    assert validate.check([pb], load_inventory(["h1,"]), {}) == []


def test_bad_host_pattern(tmp_path):
    from deployer import validate
    from deployer.inventory import load_inventory

    pb = load(tmp_path, "- hosts: 'web:&'\n  tasks: []\n")
    with pytest.raises(InputError) as exc:
        validate.check([pb], load_inventory(["h1,"]), {})
    assert "pb.yml:1:3" in str(exc.value)


def test_guarded_variables_are_not_undefined(tmp_path):
    from deployer import validate
    from deployer.inventory import load_inventory

    pb = load(
        tmp_path,
        "- hosts: all\n  tasks:\n    - debug:\n        msg: \"{{ a | default(1) }} {{ b.c | d(2) }} {{ e if e is defined else 3 }}\"\n"
        "    - debug:\n        msg: '{{ f if f is defined else g }}'\n",
    )
    with pytest.raises(InputError) as exc:
        validate.check([pb], load_inventory(["h1,"]), {})
    assert "undefined variable 'g'" in str(exc.value) and "'a'" not in str(exc.value) and "'f'" not in str(exc.value)
