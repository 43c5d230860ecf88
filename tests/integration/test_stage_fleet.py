"""`deployer stage` planning from the fleet: live facts, and a `deployer facts -o` file when the
hosts cannot be reached from the staging machine (nobody is contacted then)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import yaml

from tests.fleet import Fleet
from tests.fleet.deployer_cli import CliResult

Cli = Callable[..., CliResult]
PLAY = {"name": "stack", "hosts": "all",
        "ollama": {"version": "0.5.7", "mode": "user", "source": {
            "tarball": "artifacts/ollama-0.5.7/ollama-linux-{{ deployer_facts.arch }}.tgz",
            "sha256sums": "artifacts/ollama-0.5.7/sha256sum.txt"}},
        "models": [{"name": "deepseek-r1", "size": "auto", "max_size": "1.5b", "placement": "cpu", "source": "bundle"}]}


def test_live_facts_then_a_facts_file_when_the_hosts_are_out_of_reach(fleet: Fleet, deployer_cli: Cli, tmp_path: Path) -> None:
    pb = tmp_path / "pb.yml"
    pb.write_text(yaml.safe_dump([PLAY], sort_keys=False))
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h1", "h6"])
    res = deployer_cli("stage", pb, "-i", inv, "--list", "--json")
    assert res.rc == 0, res
    live = json.loads(res.stdout)["items"]
    assert {(i["name"], tuple(i["hosts"])) for i in live} == {("ollama-linux-amd64.tgz", ("h1", "h6")), ("deepseek-r1:1.5b", ("h1", "h6"))}

    facts = tmp_path / "facts.json"
    res = deployer_cli("facts", "-i", inv, "-o", facts)
    assert res.rc == 0, res
    fleet.stop_sshd("h1")  # h6 is behind h1: both out of reach now
    res = deployer_cli("stage", pb, "-i", inv, "--list", "--json", "--timeout", "3")
    assert res.rc == 5, res
    text = " ".join(res.stderr.split())
    assert "error: h1: not planned: h1: cannot connect to" in text
    assert "- from a machine that reaches the hosts, `deployer facts -o FILE`, then --facts FILE" in text
    res = deployer_cli("stage", pb, "-i", inv, "--facts", facts, "--list", "--json")
    assert res.rc == 0, res
    assert json.loads(res.stdout)["items"] == live
