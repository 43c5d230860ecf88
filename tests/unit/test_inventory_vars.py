"""Variables: Ansible's precedence among inventory, group_vars/ and host_vars/, and how vars files are found."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.inventory import load_inventory
from tests.unit.test_inventory import load_ini, write  # the helpers that write a small inventory into tmp_path


# --- precedence ------------------------------------------------------------------


def test_group_beats_all(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1\n[web:vars]\nx=web\n[all:vars]\nx=all\n")
    assert inv.host_vars("w1")["x"] == "web"


def test_child_group_beats_parent_whatever_the_names(tmp_path):
    inv = load_ini(tmp_path, "[a:children]\nz\n[z]\nh\n[a:vars]\nx=parent\n[z:vars]\nx=child\n")
    assert inv.host_vars("h")["x"] == "child"


def test_same_depth_later_name_wins(tmp_path):
    inv = load_ini(tmp_path, "[b]\nh\n[a]\nh\n[a:vars]\nx=a\n[b:vars]\nx=b\n")
    assert inv.host_vars("h")["x"] == "b"


def test_same_depth_higher_priority_wins_over_name(tmp_path):
    inv = load_ini(tmp_path, "[a]\nh\n[b]\nh\n[a:vars]\nx=a\nansible_group_priority=10\n[b:vars]\nx=b\n")
    assert inv.host_vars("h")["x"] == "a"
    assert "ansible_group_priority" not in inv.host_vars("h")
    assert inv.groups["a"].priority == 10


def test_depth_is_the_longest_path_from_all(tmp_path):
    # 'deep' is a child of 'all' and, through 'mid', a grandchild: depth 2, beats 'mid' (depth 1).
    write(
        tmp_path,
        {
            "hosts.yml": """
            all:
              children:
                deep: {hosts: {h: }, vars: {x: deep}}
                mid:
                  vars: {x: mid}
                  children: {deep: }
            """
        },
    )
    inv = load_inventory([tmp_path])
    assert inv.groups["deep"].depth == 2
    assert inv.host_vars("h")["x"] == "deep"


def test_host_beats_groups(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1 x=host\n[web:vars]\nx=group\n")
    assert inv.host_vars("w1")["x"] == "host"


def test_host_vars_file_beats_inline_host_var(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1 x=inline\n", **{"host_vars/w1.yml": "x: file\n"})
    assert inv.host_vars("w1")["x"] == "file"


def test_group_vars_all_file_beats_inline_child_group_var(tmp_path):
    # Ansible ranks every group_vars/ file above every inline group var.
    inv = load_ini(tmp_path, "[web]\nw1\n[web:vars]\nx=inline\n", **{"group_vars/all.yml": "x: all_file\n"})
    assert inv.host_vars("w1")["x"] == "all_file"


def test_group_vars_child_file_beats_parent_file(tmp_path):
    inv = load_ini(
        tmp_path,
        "[p:children]\nc\n[c]\nh\n",
        **{"group_vars/p.yml": "x: parent\ny: p\n", "group_vars/c.yml": "x: child\n", "group_vars/all.yml": "y: all\n"},
    )
    assert inv.host_vars("h") == {"x": "child", "y": "p"}


def test_nested_values_are_replaced_whole_not_merged(tmp_path):
    inv = load_ini(
        tmp_path, "[web]\nw1\n", **{"group_vars/all.yml": "d: {a: 1, b: 2}\n", "group_vars/web.yml": "d: {a: 9}\n"}
    )
    assert inv.host_vars("w1")["d"] == {"a": 9}


def test_var_origin_points_at_the_winning_definition(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1 port=1\n[web:vars]\nuser=x\n", **{"group_vars/web.yml": "# c\nuser: y\n"})
    assert str(inv.var_origin("w1", "port")) == f"{tmp_path}/hosts.ini:2:4"
    assert str(inv.var_origin("w1", "user")) == f"{tmp_path}/group_vars/web.yml:2:1"
    assert inv.var_origin("w1", "missing") is None


def test_host_vars_is_a_copy_nested_values_included(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1 x=1\n", **{"group_vars/web.yml": "models: [a]\n"})
    changed = inv.host_vars("w1")
    changed["x"] = 2
    changed["models"].append("b")
    assert inv.host_vars("w1") == {"x": 1, "models": ["a"]}


# --- group_vars/ and host_vars/ ----------------------------------------------------


@pytest.mark.parametrize("name", ["web.yml", "web.yaml", "web", "web.json"])
def test_group_vars_file_names(tmp_path, name):
    body = '{"x": 1}' if name.endswith(".json") else "x: 1\n"
    inv = load_ini(tmp_path, "[web]\nw1\n", **{f"group_vars/{name}": body})
    assert inv.host_vars("w1") == {"x": 1}


def test_group_vars_directory_merged_sorted_skipping_hidden_backups_and_other_extensions(tmp_path):
    inv = load_ini(
        tmp_path,
        "[web]\nw1\n",
        **{
            "group_vars/web/20-b.yml": "x: b\ny: b\n",
            "group_vars/web/10-a.yaml": "x: a\nz: a\n",
            "group_vars/web/sub/30-c.json": '{"y": "c"}',
            "group_vars/web/.hidden.yml": "x: hidden\n",
            "group_vars/web/20-b.yml~": "x: backup\n",
            "group_vars/web/notes.txt": "x: txt\n",
            "group_vars/web/empty.yml": "",
        },
    )
    assert inv.host_vars("w1") == {"x": "b", "y": "c", "z": "a"}


def test_group_vars_directory_is_taken_before_a_file_of_the_same_name(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1\n", **{"group_vars/web/a.yml": "x: dir\n", "group_vars/web.yml": "x: file\n"})
    assert inv.host_vars("w1") == {"x": "dir"}


def test_host_vars_directory(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1\n", **{"host_vars/w1/a.yml": "x: 1\n", "host_vars/w1/b.yml": "y: 2\n"})
    assert inv.host_vars("w1") == {"x": 1, "y": 2}
    assert inv.hosts["w1"].file_vars == {"x": 1, "y": 2}


def test_vars_next_to_a_file_source(tmp_path):
    write(tmp_path, {"inv/hosts.ini": "[web]\nw1\n", "inv/group_vars/web.yml": "x: 1\n"})
    assert load_inventory([tmp_path / "inv" / "hosts.ini"]).host_vars("w1") == {"x": 1}


def test_vars_dirs_apply_after_the_inventorys(tmp_path):
    write(
        tmp_path,
        {
            "inv/hosts.ini": "[web]\nw1\n",
            "inv/group_vars/all.yml": "x: inv\ny: inv\n",
            "playbooks/group_vars/all.yml": "x: playbook\n",
        },
    )
    inv = load_inventory(["inv"], base_dir=tmp_path, vars_dirs=[Path("playbooks")])
    assert inv.host_vars("w1") == {"x": "playbook", "y": "inv"}


def test_group_vars_for_unknown_groups_are_ignored(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1\n", **{"group_vars/other.yml": "x: 1\n"})
    assert inv.host_vars("w1") == {}
