"""Bad inventories: each is an InputError rendered as ``path:line:col: what (how to fix)``."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from deployer.errors import ExitStatus, InputError
from deployer.hostrange import expand_range
from deployer.inventory import load_inventory


def error_of(tmp_path: Path, files: dict[str, str], source: str | None = None) -> str:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    with pytest.raises(InputError) as err:
        load_inventory([source or tmp_path], base_dir=tmp_path)
    assert err.value.exit_status == ExitStatus.BAD_INPUT
    return str(err.value)


# --- INI ---------------------------------------------------------------------------


def test_unknown_section_suffix(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[web]\nw1\n[web:var]\nx=1\n"})
    assert msg == f"{tmp_path}/hosts.ini:3:5: section [web:var] has unknown suffix ':var' (did you mean 'vars'?)"


def test_unknown_section_suffix_without_a_close_match(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[web:servers]\n"})
    assert msg.startswith(f"{tmp_path}/hosts.ini:1:5: section [web:servers] has unknown suffix ':servers'")
    assert "use [group], [group:vars] or [group:children]" in msg


def test_section_with_spaces(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "w1\n\n[web servers]\n"})
    assert msg.startswith(f"{tmp_path}/hosts.ini:3:1: invalid section header [web servers]")


@pytest.mark.parametrize(
    "line, col, what",
    [
        ("node[01:1]", 1, "bad host range '[01:1]' in 'node[01:1]': zero-padded begin '01' and end '1'"),
        ("  node[5:1]", 3, "bad host range '[5:1]' in 'node[5:1]': begin 5 is after end 1"),
        ("node[1:]", 1, "bad host range '[1:]' in 'node[1:]': the end is missing"),
        ("node[1:2:3:4]", 1, "expected begin:end or begin:end:step"),
        ("node[a:5]", 1, "begin and end must both be numbers or both single letters"),
        ("node[c:a]", 1, "'c' comes after 'a'"),
        ("node[1:4:0]", 1, "the step must be 1 or more"),
        ("node[1:4:x]", 1, "the step 'x' is not a whole number"),
        ("node[1:4", 1, "'[' is not closed by ']'"),
    ],
)
def test_bad_range_in_ini(tmp_path, line, col, what):
    msg = error_of(tmp_path, {"hosts.ini": f"[compute]\n{line} x=1\n"})
    assert msg.startswith(f"{tmp_path}/hosts.ini:2:{col}: bad host range ")
    assert what in msg
    assert "node[01:20]" in msg  # the hint shows the right forms


def test_bad_range_without_location():
    with pytest.raises(InputError) as err:
        expand_range("n[2:1]")
    assert str(err.value).startswith("bad host range '[2:1]' in 'n[2:1]'")


def test_group_that_is_its_own_child(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[a:children]\na\n"})
    assert msg.startswith(f"{tmp_path}/hosts.ini:2:1: group 'a' cannot be a child of 'a': that makes a loop a -> a")


def test_group_cycle_is_reported_where_it_closes(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[a:children]\nb\n[b:children]\nc\n[c:children]\n  a\n"})
    assert msg == (
        f"{tmp_path}/hosts.ini:6:3: group 'a' cannot be a child of 'c': that makes a loop c -> a -> b -> c "
        "(a group cannot contain itself; remove 'a' from the children of 'c')"
    )


def test_children_naming_an_undeclared_group(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[webs]\nw1\n[prod:children]\nwebs\nweb\n"})
    assert msg == f"{tmp_path}/hosts.ini:5:1: [prod:children] names group 'web', which is never declared (did you mean 'webs'?)"


def test_vars_for_an_undeclared_group(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[web]\nw1\n\n[db:vars]\nport=5432\n"})
    assert msg == (
        f"{tmp_path}/hosts.ini:4:1: [db:vars] is for group 'db', which is never declared "
        "(add a [db] section (it may be empty) or fix the name)"
    )


def test_host_line_with_a_word_that_is_not_key_value(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[web]\nw1 ansible_user deploy\n"})
    assert msg.startswith(f"{tmp_path}/hosts.ini:2:4: expected key=value after host 'w1', got 'ansible_user'")


def test_host_line_with_an_open_quote(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[web]\nw1 motd='hello\n"})
    assert msg.startswith(f"{tmp_path}/hosts.ini:2:1: cannot split host line: No closing quotation")


def test_yaml_content_in_an_ini_file(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "all:\n  hosts:\n"})
    assert msg.startswith(f"{tmp_path}/hosts.ini:1:1: host 'all:' ends with ':'")
    assert "name it .yml or .yaml" in msg


def test_vars_line_without_equals(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[web]\nw1\n[web:vars]\nansible_user deploy\n"})
    assert msg.startswith(f"{tmp_path}/hosts.ini:4:1: expected key=value in [web:vars], got 'ansible_user deploy'")


def test_children_line_that_is_not_a_group_name(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[web]\n[p:children]\nweb x=1\n"})
    assert msg.startswith(f"{tmp_path}/hosts.ini:3:1: expected a group name in [p:children], got 'web x=1'")


def test_group_priority_that_is_not_a_number(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[web]\nw1\n[web:vars]\nansible_group_priority=high\n"})
    assert msg.startswith(
        f"{tmp_path}/hosts.ini:4:1: ansible_group_priority of group 'web' must be a whole number, got 'high'"
    )


# --- YAML --------------------------------------------------------------------------


def test_yaml_unexpected_key_in_group(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "all:\n  children:\n    web:\n      host:\n        w1:\n"})
    assert msg == f"{tmp_path}/hosts.yml:4:7: unexpected key 'host' in group 'web' (did you mean 'hosts'?)"


def test_yaml_host_written_directly_under_a_group(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "all:\n  children:\n    web:\n      w1:\n"})
    assert msg == (
        f"{tmp_path}/hosts.yml:4:7: unexpected key 'w1' in group 'web' "
        "(list hosts under hosts: and groups under children:)"
    )


def test_yaml_host_vars_not_a_mapping(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "web:\n  hosts:\n    w1: 5\n"})
    assert msg.startswith(f"{tmp_path}/hosts.yml:3:5: host 'w1' in group 'web' must map to its variables, got int 5")


def test_yaml_hosts_as_a_list(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "web:\n  hosts: [w1, w2]\n"})
    assert msg.startswith(f"{tmp_path}/hosts.yml:2:3: 'hosts' of group 'web' must be a mapping, got a list")


def test_yaml_group_not_a_mapping(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "all:\n  children:\n    web: [w1]\n"})
    assert msg.startswith(f"{tmp_path}/hosts.yml:3:5: group 'web' must be a mapping with hosts:, vars: or children:")


def test_yaml_top_level_not_a_mapping(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "# hosts\n- w1\n- w2\n"})
    assert msg.startswith(f"{tmp_path}/hosts.yml:2:1: a YAML inventory must be a mapping of group names, got a list")


def test_yaml_numeric_host_name(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "web:\n  hosts:\n    10:\n"})
    assert msg.startswith(f"{tmp_path}/hosts.yml:3:5: host name 10 in group 'web' must be a string")


def test_yaml_bad_range_points_at_the_host_key(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "web:\n  hosts:\n    ok:\n    n[3:1]:\n"})
    assert msg.startswith(f"{tmp_path}/hosts.yml:4:5: bad host range '[3:1]' in 'n[3:1]'")


def test_yaml_cycle(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "a:\n  children:\n    b:\n      children:\n        a:\n"})
    assert msg.startswith(f"{tmp_path}/hosts.yml:3:5: group 'b' cannot be a child of 'a': that makes a loop a -> b -> a")


def test_yaml_plugin_configuration(tmp_path):
    msg = error_of(tmp_path, {"aws_ec2.yml": "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n"})
    assert msg.startswith(f"{tmp_path}/aws_ec2.yml:1:1: inventory plugin configuration (plugin: amazon.aws.aws_ec2)")
    assert "ansible-inventory -i THIS_FILE --list -y > static.yml" in msg


def test_yaml_syntax_error_has_its_position(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "all:\n  hosts:\n    w1: {a: 1\n"})
    assert msg.startswith(f"{tmp_path}/hosts.yml:4:1: invalid YAML")


def test_yaml_duplicate_group_key(tmp_path):
    msg = error_of(tmp_path, {"hosts.yml": "web:\n  hosts: {w1: }\nweb:\n  hosts: {w2: }\n"})
    assert msg.startswith(f"{tmp_path}/hosts.yml:3:1: duplicate key 'web' (first defined at line 1)")


# --- vars files -------------------------------------------------------------------


def test_host_vars_file_not_a_mapping(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "w1\n", "host_vars/w1.yml": "# vars\n- a\n- b\n"})
    assert msg == (
        f"{tmp_path}/host_vars/w1.yml:2:1: a host_vars file must be a mapping of variable names to values, "
        "got a list (write one 'name: value' per line)"
    )


def test_group_vars_file_that_is_a_plain_value(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "w1\n", "group_vars/all.yml": "just text\n"})
    assert msg.startswith(f"{tmp_path}/group_vars/all.yml:1:1: a group_vars file must be a mapping")
    assert "got str 'just text'" in msg


def test_group_vars_in_a_directory_not_a_mapping(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "[web]\nw1\n", "group_vars/web/a.yml": "x: 1\n", "group_vars/web/b.yml": "[1]\n"})
    assert msg.startswith(f"{tmp_path}/group_vars/web/b.yml:1:1: a group_vars file must be a mapping")


def test_invalid_json_vars_file(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "w1\n", "host_vars/w1.json": '{\n  "x": 1,\n}\n'})
    assert msg.startswith(f"{tmp_path}/host_vars/w1.json:3:1: invalid JSON")


def test_vault_encrypted_vars_file(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "w1\n", "group_vars/all.yml": "$ANSIBLE_VAULT;1.1;AES256\n6162\n"})
    assert msg.startswith(f"{tmp_path}/group_vars/all.yml:1:1: this group_vars file is encrypted with ansible-vault")


def test_group_vars_that_is_a_file(tmp_path):
    msg = error_of(tmp_path, {"hosts.ini": "w1\n", "group_vars": "x: 1\n"}, source=str(tmp_path / "hosts.ini"))
    assert msg.startswith(f"{tmp_path}/group_vars: group_vars is not a directory")


# --- sources ----------------------------------------------------------------------


def test_missing_inventory_path(tmp_path):
    with pytest.raises(InputError) as err:
        load_inventory(["inventories/nope"], base_dir=tmp_path)
    assert str(err.value) == (
        f"{tmp_path}/inventories/nope: inventory source not found "
        "(check the -i path; a list of hosts needs a comma, e.g. -i 'node01,node02,' or -i 'localhost,')"
    )


def test_executable_inventory_script(tmp_path):
    script = tmp_path / "inv.py"
    script.write_text("#!/usr/bin/env python3\nprint('{}')\n")
    os.chmod(script, 0o755)
    msg = error_of(tmp_path, {})
    assert msg.startswith(f"{script}:1:1: executable inventory scripts are not supported")


def test_not_utf8(tmp_path):
    (tmp_path / "hosts.ini").write_bytes(b"[web]\nw\xff1\n")
    with pytest.raises(InputError, match="cannot read inventory file"):
        load_inventory([tmp_path])
