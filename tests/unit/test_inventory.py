"""Loading inventories (deployer.inventory): formats, ranges, groups, sources, localhost, lookups.

Precedence and vars files are in test_inventory_vars.py, errors in
test_inventory_errors.py, comparisons with real ansible-core output in
test_inventory_ansible.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deployer.errors import InputError
from deployer.hostrange import expand_range, split_host_port
from deployer.inventory import load_inventory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventories"
REPO = Path(__file__).resolve().parents[2]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def load_ini(tmp_path: Path, text: str, **more: str):
    write(tmp_path, {"hosts.ini": text, **more})
    return load_inventory([tmp_path])


# --- INI ---------------------------------------------------------------------


def test_ini_hosts_before_a_section_are_ungrouped(tmp_path):
    inv = load_ini(tmp_path, "alone\n[web]\nw1\n")
    assert inv.groups["ungrouped"].hosts == ["alone"]
    assert inv.groups["web"].hosts == ["w1"]
    assert inv.groups_map()["all"] == ["alone", "w1"]


def test_a_host_listed_ungrouped_and_in_a_group_leaves_ungrouped(tmp_path):
    inv = load_ini(tmp_path, "h\nalone\n[web]\nh\n")
    assert inv.groups["ungrouped"].hosts == ["alone"]
    assert inv.group_names("h") == ["web"]


def test_ini_comments_and_blank_lines(tmp_path):
    inv = load_ini(tmp_path, "# comment\n; also a comment\n\n[web]   # trailing comment\nw1  # after a host\n")
    assert list(inv.hosts) == ["w1"]


def test_ini_host_port_becomes_ansible_port_int(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1:2222\n")
    assert inv.host_vars("w1") == {"ansible_port": 2222}


def test_ini_port_on_a_later_line_is_ignored_like_ansible(tmp_path):
    inv = load_ini(tmp_path, "[a]\nh\n[b]\nh:2222\n[c]\nh2:1\n[d]\nh2:2\n")
    assert inv.host_vars("h") == {}
    assert inv.host_vars("h2") == {"ansible_port": 1}


def test_ini_inline_ansible_port_after_host_port_wins(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw1:2222 ansible_port=22\n")
    assert inv.host_vars("w1")["ansible_port"] == 22


@pytest.mark.parametrize(
    "written, value",
    [
        ("22", 22),
        ("1.5", 1.5),
        ("True", True),
        ("None", None),
        ("[1,2]", [1, 2]),
        ("\"{'a': 1}\"", {"a": 1}),
        ("'03'", "03"),  # shell quotes come off first: '03' is literal_eval'd as 03, not valid, stays text
        ("\"'03'\"", "03"),
        ("03", "03"),
        ("FALSE", "FALSE"),
        ("\"two words\"", "two words"),
        ("a=b", "a=b"),
        ("/usr/bin/python3", "/usr/bin/python3"),
    ],
)
def test_ini_host_line_values_are_python_literals(tmp_path, written, value):
    inv = load_ini(tmp_path, f"[web]\nw1 v={written}\n")
    assert inv.host_vars("w1")["v"] == value


@pytest.mark.parametrize(
    "line, value",
    [
        ("v=8080", 8080),  # ansible-core literal_evals :vars too (its docs say strings)
        ("v = spaced value  ", "spaced value"),
        ("v=x # not a comment here", "x # not a comment here"),
        ("v=False", False),
        ("v=a=b", "a=b"),
        ("v=", ""),
    ],
)
def test_ini_vars_section_values(tmp_path, line, value):
    inv = load_ini(tmp_path, f"[web]\nw1\n[web:vars]\n{line}\n")
    assert inv.host_vars("w1")["v"] == value


def test_ini_children_and_vars_sections_may_come_before_the_group(tmp_path):
    inv = load_ini(tmp_path, "[prod:children]\nweb\n[web:vars]\nx=1\n[web]\nw1\n")
    assert inv.groups["prod"].children == ["web"]
    assert inv.host_vars("w1") == {"x": 1}
    assert inv.group_names("w1") == ["prod", "web"]


def test_ini_host_in_two_groups_merges_its_vars(tmp_path):
    inv = load_ini(tmp_path, "[a]\nh a=1 x=a\n[b]\nh b=2 x=b\n")
    assert inv.hosts["h"].vars == {"a": 1, "x": "b", "b": 2}
    assert inv.group_names("h") == ["a", "b"]


def test_ini_explicit_all_and_ungrouped_sections(tmp_path):
    inv = load_ini(tmp_path, "[all]\nh1\n[ungrouped]\nh2\n[all:vars]\nx=1\n")
    # h1 joins 'ungrouped' only once loading is done, after h2: the order ansible-inventory shows too
    assert inv.groups_map()["ungrouped"] == ["h2", "h1"]
    assert inv.host_vars("h2") == {"x": 1}


# --- host ranges ----------------------------------------------------------------


@pytest.mark.parametrize(
    "entry, names",
    [
        ("node[01:04]", ["node01", "node02", "node03", "node04"]),
        ("node[1:20:2]", [f"node{i}" for i in range(1, 21, 2)]),
        ("node[8:11]", ["node8", "node9", "node10", "node11"]),
        ("gpu-[a:c]", ["gpu-a", "gpu-b", "gpu-c"]),
        ("r[1:2]n[a:b]", ["r1na", "r1nb", "r2na", "r2nb"]),
        ("db[01:02].lab.example", ["db01.lab.example", "db02.lab.example"]),
        ("n[:2]", ["n0", "n1", "n2"]),
        ("n[a:e:2]", ["na", "nc", "ne"]),
        ("plain", ["plain"]),
    ],
)
def test_expand_range(entry, names):
    assert expand_range(entry) == names


@pytest.mark.parametrize(
    "text, result",
    [
        ("web1", ("web1", None)),
        ("web1:2222", ("web1", 2222)),
        ("10.0.0.5:22", ("10.0.0.5", 22)),
        ("node[01:04]:2200", ("node[01:04]", 2200)),
        ("[fe80::1]:2222", ("fe80::1", 2222)),
        ("fe80::1", ("fe80::1", None)),
    ],
)
def test_split_host_port(text, result):
    assert split_host_port(text) == result


def test_ranges_in_ini_and_yaml_give_the_same_hosts(tmp_path):
    write(tmp_path, {"a/hosts.ini": "[g]\nn[01:03]:22 x=1\n", "b/hosts.yml": "g:\n  hosts:\n    n[01:03]:22: {x: 1}\n"})
    ini, yml = load_inventory([tmp_path / "a"]), load_inventory([tmp_path / "b"])
    assert list(ini.hosts) == list(yml.hosts) == ["n01", "n02", "n03"]
    assert ini.host_vars("n02") == yml.host_vars("n02") == {"ansible_port": 22, "x": 1}


# --- YAML ------------------------------------------------------------------------


def test_yaml_hosts_directly_under_all_are_ungrouped(tmp_path):
    write(tmp_path, {"hosts.yml": "all:\n  hosts:\n    h1:\n  children:\n    web:\n      hosts: {w1: }\n"})
    inv = load_inventory([tmp_path])
    assert inv.groups_map()["ungrouped"] == ["h1"]
    assert inv.to_ansible_list()["ungrouped"] == {"hosts": ["h1"]}


def test_yaml_top_level_groups_other_than_all(tmp_path):
    write(tmp_path, {"hosts.yaml": "web:\n  hosts:\n    w1:\ndb:\n  hosts: d1\n"})
    inv = load_inventory([tmp_path])
    assert inv.groups["all"].children == ["ungrouped", "web", "db"]
    assert inv.groups["db"].hosts == ["d1"]  # 'hosts: d1' is one host, as Ansible allows


def test_yaml_empty_sections_and_empty_file(tmp_path):
    write(tmp_path, {"a.yml": "all:\n  hosts:\n  vars:\n  children:\n    web:\n", "b.yml": "# nothing\n"})
    inv = load_inventory([tmp_path])
    assert inv.hosts == {}
    assert "web" in inv.groups


def test_yaml_group_listed_under_two_parents_keeps_both(tmp_path):
    write(
        tmp_path,
        {"h.yml": "all:\n  children:\n    a:\n      children:\n        c:\n          hosts: {h: }\n    b:\n      children:\n        c:\n"},
    )
    inv = load_inventory([tmp_path])
    assert inv.groups["c"].parents == ["a", "b"]
    assert inv.group_names("h") == ["a", "b", "c"]


def test_json_inventory_file(tmp_path):
    write(tmp_path, {"hosts.json": '{"all": {"children": {"web": {"hosts": {"w1": {"x": 1}}}}}}'})
    assert load_inventory([tmp_path]).host_vars("w1") == {"x": 1}


# --- INI/YAML parity -------------------------------------------------------------


def test_ini_and_yaml_versions_of_one_inventory_are_identical():
    ini = load_inventory([FIXTURES / "parity" / "hosts.ini"])
    yml = load_inventory([FIXTURES / "parity" / "hosts.yml"])
    assert list(ini.hosts) == list(yml.hosts)
    assert ini.groups_map() == yml.groups_map()
    for name in ini.hosts:
        assert ini.host_vars(name) == yml.host_vars(name), name
        assert ini.group_names(name) == yml.group_names(name), name
    assert ini.to_ansible_list() == yml.to_ansible_list()
    assert ini.host_vars("gpu-a")["placement"] == "gpu"  # not a vacuous comparison
    assert ini.host_vars("node04") == yml.host_vars("node04") != {}


# --- sources -----------------------------------------------------------------------


def test_several_sources_merge_in_order(tmp_path):
    write(
        tmp_path,
        {
            "a.ini": "[web]\nw1 x=a\nw2\n[web:vars]\ng=a\n",
            "b.yml": "all:\n  children:\n    web:\n      hosts: {w1: {x: b}, w3: }\n      vars: {g: b}\n    db: {hosts: {d1: }}\n",
        },
    )
    inv = load_inventory(["a.ini", "b.yml"], base_dir=tmp_path)
    assert inv.groups["web"].hosts == ["w1", "w2", "w3"]
    assert inv.host_vars("w1") == {"x": "b", "g": "b"}
    assert inv.sources == [str(tmp_path / "a.ini"), str(tmp_path / "b.yml")]
    reverse = load_inventory(["b.yml", "a.ini"], base_dir=tmp_path)
    assert reverse.host_vars("w1") == {"x": "a", "g": "a"}


def test_directory_loads_every_inventory_file_sorted_and_skips_the_rest(tmp_path):
    write(
        tmp_path,
        {
            "b.ini": "[web]\nw2\n",
            "a.yml": "web:\n  hosts: {w1: }\n",
            "sub/c": "[web]\nw3\n",
            "README.md": "not: [an inventory\n",
            "ansible.cfg": "[defaults]\n",
            ".hidden": "[web]\nhidden\n",
            "notes.txt": "x y z\n",
            "old.ini.bak": "[web]\nold\n",
            "group_vars/web.yml": "x: 1\n",
        },
    )
    inv = load_inventory([tmp_path])
    assert inv.groups["web"].hosts == ["w1", "w2", "w3"]
    assert inv.hosts["w1"].source == str(tmp_path / "a.yml")
    assert inv.inventory_dir == tmp_path


def test_file_without_extension_is_yaml_if_it_reads_as_a_mapping(tmp_path):
    write(tmp_path, {"y/hosts": "all:\n  hosts:\n    h1:\n", "i/hosts": "h1\nh2 x=1\n"})
    assert list(load_inventory([tmp_path / "y"]).hosts) == ["h1"]
    assert list(load_inventory([tmp_path / "i"]).hosts) == ["h1", "h2"]


def test_comma_list(tmp_path):
    inv = load_inventory(["node01, node02:2222,"], base_dir=tmp_path)
    assert list(inv.hosts) == ["node01", "node02"]
    assert inv.groups["ungrouped"].hosts == ["node01", "node02"]
    assert inv.host_vars("node02") == {"ansible_port": 2222}
    assert inv.hosts["node01"].source is None
    assert inv.inventory_dir is None
    assert load_inventory(["h1,"], base_dir=tmp_path, vars_dirs=[tmp_path]).inventory_dir is None


def test_comma_list_single_host_and_no_ranges(tmp_path):
    inv = load_inventory(["localhost,", "n[1:3],"], base_dir=tmp_path)
    assert list(inv.hosts) == ["localhost", "n[1:3]"]
    assert inv.host_vars("localhost") == {}  # listed, so not the implicit local host


def test_an_existing_path_with_a_comma_is_a_path(tmp_path):
    write(tmp_path, {"a,b.ini": "[web]\nw1\n"})
    assert list(load_inventory(["a,b.ini"], base_dir=tmp_path).hosts) == ["w1"]


def test_sources_relative_to_base_dir_and_cwd(tmp_path, monkeypatch):
    write(tmp_path, {"inv/hosts.ini": "h\n"})
    assert list(load_inventory(["inv"], base_dir=tmp_path).hosts) == ["h"]
    monkeypatch.chdir(tmp_path)
    assert list(load_inventory(["inv"]).hosts) == ["h"]


# --- implicit localhost, lookups, selection --------------------------------------------


def test_implicit_localhost(tmp_path):
    inv = load_ini(
        tmp_path,
        "[web]\nw1\n[web:vars]\nx=web\n[all:vars]\nx=all\n",
        **{"group_vars/all.yml": "y: all_file\n", "host_vars/localhost.yml": "z: mine\n"},
    )
    assert inv.host_vars("localhost") == {"x": "all", "y": "all_file", "ansible_connection": "local", "z": "mine"}
    assert inv.select("localhost") == ["localhost"]
    assert inv.select("all") == ["w1"]
    assert "localhost" not in inv.hosts
    assert inv.group_names("localhost") == []
    assert inv.host("localhost").implicit


def test_localhost_alias_resolves_to_a_listed_localhost(tmp_path):
    inv = load_ini(tmp_path, "[llm]\nlocalhost ansible_connection=local\n")
    assert inv.host("127.0.0.1").name == "localhost"
    assert inv.select("127.0.0.1") == ["localhost"]
    assert not inv.host("localhost").implicit


def test_unknown_host_is_an_input_error_with_a_suggestion(tmp_path):
    inv = load_ini(tmp_path, "[web]\nnode01\n")
    with pytest.raises(InputError, match="host 'node1' is not in the inventory.*did you mean 'node01'"):
        inv.host_vars("node1")


def test_group_names_include_ancestors_and_ungrouped_like_ansible(tmp_path):
    inv = load_ini(tmp_path, "alone\n[p:children]\nc\n[c]\nh\n")
    assert inv.group_names("h") == ["c", "p"]
    assert inv.group_names("alone") == ["ungrouped"]


def test_groups_map_lists_every_group_in_group_order(tmp_path):
    inv = load_ini(tmp_path, "[b]\nh2\n[a]\nh1\nh2\n[p:children]\na\n[empty]\n")
    assert inv.groups_map() == {
        "all": ["h2", "h1"],
        "ungrouped": [],
        "b": ["h2"],
        "a": ["h1", "h2"],
        "p": ["h1", "h2"],
        "empty": [],
    }


def test_select_with_limit(tmp_path):
    inv = load_ini(tmp_path, "[web]\nw[1:4]\n[gpu]\nw2\nw4\n")
    assert inv.select("web", limit="gpu") == ["w2", "w4"]
    assert inv.select("web", limit="w1:w3") == ["w1", "w3"]
    assert inv.select("web", limit="nothing") == []


# --- the example inventories shipped in inventories/ ------------------------------------


def test_example_local_inventory():
    inv = load_inventory([REPO / "inventories" / "local"])
    assert inv.select("llm") == ["localhost"]
    hv = inv.host_vars("localhost")
    assert hv["ansible_connection"] == "local" and hv["ollama_mode"] == "user"


def test_example_lab_inventory():
    inv = load_inventory([REPO / "inventories" / "lab"])
    assert list(inv.hosts) == ["login", "node01", "node02", "node03", "node04"]
    assert inv.select("compute") == ["node01", "node02", "node03", "node04"]
    assert inv.select("gpu") == ["node03", "node04"]
    assert inv.select("llm") == inv.select("compute")
    assert "ProxyJump=deploy@login.lab.example" in inv.host_vars("node01")["ansible_ssh_common_args"]
    assert "ansible_ssh_common_args" not in inv.host_vars("login")
    assert inv.host_vars("node04")["ollama_models_dir"] != inv.host_vars("node01")["ollama_models_dir"]
    assert inv.host_vars("login")["ansible_user"] == "deploy"
    assert inv.host_vars("node01")["ollama_mode"] == "system" and "ollama_mode" not in inv.host_vars("login")
