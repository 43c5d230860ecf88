"""`deployer facts` and `deployer recommend` against the sshd fleet (and this machine)."""

from __future__ import annotations

import json


def test_facts_to_file_then_recommend_offline(fleet, fleet_inventory, deployer_cli, tmp_path):
    out = tmp_path / "facts.json"
    r = deployer_cli("facts", "-i", fleet_inventory, "-o", out, "--path", "/srv/models")
    assert r.rc == 0, r
    data = json.loads(out.read_text())
    assert set(data["hosts"]) == set(fleet.names)
    for name, f in data["hosts"].items():
        assert f["hostname"] == name
        assert f["memory"]["total_bytes"] > 0 and f["arch"] in ("amd64", "arm64")
        assert any(d["path"] == "/srv/models" for d in f["disks"])
    # the table shows every host
    assert all(h in r.stderr for h in fleet.names)

    r = deployer_cli("recommend", "--facts", out, "-m", "qwen2.5", "--json")
    assert r.rc == 0, r
    decisions = json.loads(r.stdout)
    assert {d["host"] for d in decisions} == set(fleet.names)
    assert all(d["reason"] for d in decisions)


def test_recommend_live_with_a_host_down(fleet, fleet_inventory, deployer_cli):
    fleet.stop_sshd("h2")
    r = deployer_cli("recommend", "-i", fleet_inventory, "-m", "deepseek-r1", "--json")
    assert r.rc == 5, r
    rows = json.loads(r.stdout)
    by_host = {d["host"]: d for d in rows}
    assert by_host["h2"]["ok"] is False and "h2" in by_host["h2"]["error"]
    assert all(by_host[h].get("reason") for h in fleet.names if h != "h2")
    assert "h2:" in r.stderr


def test_facts_on_this_machine(deployer_cli, tmp_path):
    inv = tmp_path / "local.ini"
    inv.write_text("localhost ansible_connection=local\n")
    r = deployer_cli("facts", "-i", inv, "--json")
    assert r.rc == 0, r
    f = json.loads(r.stdout)["hosts"]["localhost"]
    assert f["source"] == "local" and f["cpu"]["threads"] >= 1
