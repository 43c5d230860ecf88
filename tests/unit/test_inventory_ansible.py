"""deployer against real ansible-core, on the fixture inventories.

The expected outputs (tests/fixtures/inventories/*.expected.json) were produced
once with ansible-core 2.19 by tests/fixtures/inventories/make_expected.py
(ansible-inventory --list, --list --export, --host; the groups and group_names
variables; the hosts of some patterns). ansible is not a dependency of deployer
or of these tests; regenerate the files with that script after changing a
fixture inventory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployer.inventory import load_inventory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventories"
CASES = [("lab_like", "lab_like"), ("parity/hosts.ini", "parity_hosts_ini"), ("parity/hosts.yml", "parity_hosts_yml")]
# Patterns where deployer differs from Ansible on purpose (see deployer/patterns.py):
# Ansible reads [1-3] as a removed [x-y] subscript and matches nothing.
DIFFERENT_ON_PURPOSE = {"node0[1-3]": ["node01", "node02", "node03"]}


@pytest.fixture(scope="module", params=CASES, ids=[c[1] for c in CASES])
def case(request):
    source, expected = request.param
    inv = load_inventory([FIXTURES / source])
    return inv, json.loads((FIXTURES / f"{expected}.expected.json").read_text())


def test_list_matches_ansible_inventory(case):
    inv, expected = case
    assert inv.to_ansible_list() == expected["list"]


def test_list_export_matches_ansible_inventory(case):
    inv, expected = case
    assert inv.to_ansible_list(export=True) == expected["export"]


def test_host_matches_ansible_inventory(case):
    inv, expected = case
    for name, host_vars in expected["host"].items():
        ours = inv.host_json(name)
        if name == "localhost":  # the implicit host: Ansible adds its own python, deployer runs none
            host_vars = {k: v for k, v in host_vars.items() if k != "ansible_python_interpreter"}
            ours.pop("ansible_python_interpreter", None)
        assert ours == host_vars, name


def test_groups_variable_matches_ansible(case):
    inv, expected = case
    assert inv.groups_map() == expected["groups"]
    assert list(inv.hosts) == expected["groups"]["all"]


def test_group_names_match_ansible(case):
    inv, expected = case
    assert {h: inv.group_names(h) for h in inv.hosts} == expected["group_names"]


def test_patterns_select_the_hosts_ansible_selects_in_inventory_order(case):
    inv, expected = case
    order = {name: i for i, name in enumerate(inv.hosts)}
    for pattern, hosts in expected["patterns"].items():
        want = sorted(hosts, key=lambda h: order.get(h, len(order)))
        if pattern in DIFFERENT_ON_PURPOSE:
            assert hosts == [], "Ansible changed: review DIFFERENT_ON_PURPOSE"
            want = DIFFERENT_ON_PURPOSE[pattern]
        assert inv.select(pattern) == want, pattern


def test_fixture_exercises_what_it_claims():
    """Guard against a fixture that compares nothing interesting."""
    expected = json.loads((FIXTURES / "lab_like.expected.json").read_text())
    node03 = expected["host"]["node03"]
    assert node03["placement"] == "gpu_file"  # group_vars/gpu/ dir beats group_vars/gpu.yml
    assert node03["ollama_mode"] == "system"  # priority 5 beats compute
    assert node03["source_of"] == "compute_file"  # group_vars file beats inline group vars
    assert expected["host"]["node01"]["source_of"] == "node01_file"
    assert "ignored" not in node03 and "hidden" not in node03 and "backup" not in node03
