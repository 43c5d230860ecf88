"""What a playbook needs per host (deployer.stage.plan), from facts files: nobody is contacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from deployer.facts.model import HostFacts
from deployer.inventory import load_inventory
from deployer.llm.catalog import load_catalog
from deployer.llm.select import candidates_for, parse_request
from deployer.llm.spec import parse_hardware_spec
from deployer.playbook import load
from deployer.stage.plan import make_plan
from deployer.stage.run import advice
from tests.unit.stage.conftest import Cli

ARTIFACTS = "artifacts"


def _facts() -> dict[str, HostFacts]:
    gpu = parse_hardware_spec("gpu=RTX 4090,cpu=Ryzen 9 7900X,ram=128", hostname="gpu1")
    arm = parse_hardware_spec("cpu=Xeon Silver 4214,ram=8", hostname="arm1")
    arm = arm.model_copy(update={"arch": "arm64", "cpu": arm.cpu.model_copy(update={"machine": "aarch64"})})
    amd = parse_hardware_spec("gpu=MI210,cpu=Xeon Silver 4214,ram=256", hostname="amd1")
    return {"gpu1": gpu, "arm1": arm, "amd1": amd}


def _play(**extra: object) -> dict:
    play: dict = {
        "name": "stack", "hosts": "all",
        "ollama": {"version": "0.5.7", "source": {
            "tarball": f"{ARTIFACTS}/ollama-0.5.7/ollama-linux-{{{{ deployer_facts.arch }}}}.tgz",
            "sha256sums": f"{ARTIFACTS}/ollama-0.5.7/sha256sum.txt",
            "rocm_tarball": f"{ARTIFACTS}/ollama-0.5.7/ollama-linux-amd64-rocm.tgz"}},
        "models": [{"name": "deepseek-r1", "size": "auto", "max_size": "32b", "source": "bundle", "bundles": f"{ARTIFACTS}/bundles"}],
    }
    play.update(extra)
    return play


def _plan(tmp_path: Path, plays: list[dict], facts: dict[str, HostFacts] | None = None, **kw: object):
    pb = tmp_path / "pb.yml"
    pb.write_text(yaml.safe_dump(plays, sort_keys=False))
    inventory = load_inventory(["gpu1,arm1,amd1,"])
    return make_plan([load(pb)], inventory, {"openwebui_admin_password": "pw"}, _facts() if facts is None else facts, **kw)  # type: ignore[arg-type]


def test_each_host_gets_its_architecture_its_gpu_bundle_and_the_tag_that_fits(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [_play(frontend={"open_webui": {"tag": "v0.6.5", "image_tarball": f"{ARTIFACTS}/open-webui-v0.6.5.tar",
                                                             "admin_email": "a@b.c", "admin_password": "{{ openwebui_admin_password }}"}})])
    assert plan.errors == {}
    base = tmp_path / ARTIFACTS
    gpu, arm, amd = plan.hosts["gpu1"], plan.hosts["arm1"], plan.hosts["amd1"]
    assert [(r.item.name, r.item.arch, r.local) for r in gpu.releases] == [
        ("ollama-linux-amd64.tgz", "amd64", base / "ollama-0.5.7/ollama-linux-amd64.tgz")]
    assert [(r.item.name, r.local) for r in arm.releases] == [("ollama-linux-arm64.tgz", base / "ollama-0.5.7/ollama-linux-arm64.tgz")]
    assert [(r.item.name, r.item.variant, r.local) for r in amd.releases] == [
        ("ollama-linux-amd64.tgz", "", base / "ollama-0.5.7/ollama-linux-amd64.tgz"),
        ("ollama-linux-amd64-rocm.tgz", "rocm", base / "ollama-0.5.7/ollama-linux-amd64-rocm.tgz")]
    assert all(r.sums == base / "ollama-0.5.7/sha256sum.txt" for r in gpu.releases + arm.releases + amd.releases)
    assert [str(m.name) for m in gpu.models] == ["deepseek-r1:32b"] and gpu.models[0].reason.startswith("RTX 4090 24 GiB")
    assert [str(m.name) for m in arm.models] == ["deepseek-r1:8b"]
    assert gpu.models[0].bundles == base / "bundles" and gpu.models[0].source == "bundle"
    assert [(i.ref, i.tarball) for i in amd.images] == [("ghcr.io/open-webui/open-webui:v0.6.5", base / "open-webui-v0.6.5.tar")]
    assert [c.mode for c in gpu.installs] == ["system"] and gpu.become is not None  # system mode becomes root
    assert advice(plan, base) == []
    elsewhere = advice(plan, tmp_path / "staged")
    assert f"gpu1: ollama.source.tarball is {base}/ollama-0.5.7/ollama-linux-amd64.tgz, but it was staged to " \
           f"{tmp_path}/staged/ollama-0.5.7/ollama-linux-amd64.tgz" in elsewhere


def test_all_candidates_are_every_tag_auto_could_pick(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [_play()], all_candidates=True)
    want = [t.name for t in candidates_for(parse_request({"model": "deepseek-r1", "max_size": "32b"}), load_catalog())]
    assert [str(m.name) for m in plan.hosts["arm1"].models] == want
    assert len(want) > 2 and "deepseek-r1:32b" in want and "deepseek-r1:1.5b" in want


def test_a_host_without_facts_is_an_error_and_the_others_are_planned(tmp_path: Path) -> None:
    facts = _facts()
    del facts["arm1"]
    plan = _plan(tmp_path, [_play()], facts)
    assert set(plan.errors) == {"arm1"}
    assert plan.errors["arm1"][0] == "Install Ollama 0.5.7: its facts are unknown (unreachable, and not in the facts file)"
    assert [str(m.name) for m in plan.hosts["gpu1"].models] == ["deepseek-r1:32b"]
    # with every candidate, the models need no facts
    plan = _plan(tmp_path, [_play()], facts, all_candidates=True)
    assert plan.hosts["arm1"].models and not plan.hosts["arm1"].releases


def test_online_sources_and_pulls_get_advice_and_when_false_is_skipped(tmp_path: Path) -> None:
    play = _play(ollama={"version": "0.5.7", "source": {"online": True}, "mode": "user"},
                 models=[{"name": "qwen2.5:0.5b"}],
                 tasks=[{"name": "never", "when": "false", "ollama_model": {"name": "llama3.1:8b"}},
                        {"name": "maybe", "when": "earlier is changed", "ollama_model": {"name": "gemma3:1b"}}])
    plan = _plan(tmp_path, [play])
    gpu = plan.hosts["gpu1"]
    assert [str(m.name) for m in gpu.models] == ["qwen2.5:0.5b", "gemma3:1b"]
    assert gpu.releases[0].local is None and gpu.become is None  # user mode: no sudo
    tips = advice(plan, tmp_path / "a")
    assert ('ollama: the play downloads Ollama on the hosts (source.online); offline: source: {tarball: '
            f'"{tmp_path}/a/ollama-0.5.7/ollama-linux-{{{{ deployer_facts.arch }}}}.tgz", sha256sums: '
            f'{tmp_path}/a/ollama-0.5.7/sha256sum.txt}}') in tips
    assert f"models: qwen2.5 is pulled from the registry on the hosts; offline: source: bundle, bundles: {tmp_path}/a/bundles" in tips
    assert f"ollama: offline, nodes with AMD GPUs get source.rocm_tarball: {tmp_path}/a/ollama-0.5.7/ollama-linux-amd64-rocm.tgz" in tips
    assert len(tips) == 4  # and gemma3, pulled too


def test_pip_mode_needs_a_wheelhouse_for_the_hosts_platform(tmp_path: Path) -> None:
    facts = _facts()
    facts["arm1"] = facts["arm1"].model_copy(update={"os": facts["arm1"].os.model_copy(update={"glibc": "2.31"})})
    ui = {"open_webui": {"mode": "pip", "wheelhouse": "wheels", "admin_email": "a@b.c", "admin_password": "x"}}
    plan = _plan(tmp_path, [{"name": "ui", "hosts": "arm1", "frontend": ui}], facts)
    assert [(w.arch, w.glibc, w.version, w.wheelhouse) for w in plan.hosts["arm1"].wheels] == [("arm64", "2.31", None, tmp_path / "wheels")]


def test_cli_lists_the_plan_from_a_facts_file(tmp_path: Path, cli: Cli) -> None:
    pb = tmp_path / "pb.yml"
    pb.write_text(yaml.safe_dump([_play()], sort_keys=False))
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"hosts": {n: f.model_dump(mode="json") for n, f in _facts().items()}}))
    rc, out, err = cli("stage", pb, "-i", "gpu1,arm1,amd1,", "--facts", facts, "--list", "--json")
    assert rc == 0, err
    items = json.loads(out)["items"]
    assert {(i["name"], tuple(i["hosts"])) for i in items} == {
        ("ollama-linux-amd64.tgz", ("amd1", "gpu1")), ("ollama-linux-arm64.tgz", ("arm1",)),
        ("ollama-linux-amd64-rocm.tgz", ("amd1",)), ("deepseek-r1:32b", ("amd1", "gpu1")), ("deepseek-r1:8b", ("arm1",))}
    rc, out, err = cli("stage", pb, "-i", "gpu1,arm1,amd1,other,", "--facts", facts, "--list", "--json")
    assert rc == 5, err  # `other` is not in the facts file: unplanned, like an unreachable host
    assert "other: not planned: not in the facts file (write it with `deployer facts -o FILE` where the hosts are reachable)" in " ".join(err.split())


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
