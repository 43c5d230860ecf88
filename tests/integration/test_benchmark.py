"""The benchmark on the fleet: Ollama stand-ins on real sshd hosts, reached through SSH tunnels.

Each host runs its own stand-in (started here, not by the install modules) on a
port of this module's own, with a knob set that makes it a different machine:

- h1: a GPU that holds the model, 60 tok/s: measured as produced, 100% GPU, no flag
- h2: a GPU too small for it: 60%/40% CPU/GPU at 12 tok/s, flagged as a spill
- h3: a GPU, but the server runs with ROCR_VISIBLE_DEVICES (Ollama 0.9.3 on an
  NVIDIA node, as under Slurm): 100% CPU, and the flag names that cause
- h6: like h1, behind the login node h1 (ProxyJump): the tunnel goes through it

The prediction comes from `deployer_models` in the inventory, as the models
task would have left it: deepseek-r1:7b all on GPU at 60 tok/s.
"""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.fakes.models import make_model
from tests.fakes.release import write_standin_binary
from tests.fleet import Fleet
from tests.fleet.deployer_cli import CliResult
from tests.integration.test_report_chromium import page_text

RATE = 60.0
CPU_RATE = 12.0
#: the stand-in's rate holds to a token's scheduling delay (ms on a busy 2-core CI machine)
TOLERANCE = 0.15
MODEL = "deepseek-r1:7b"
KNOBS = {
    "h1": {"FAKE_OLLAMA_VRAM_BYTES": "1000000000"},
    "h2": {"FAKE_OLLAMA_VRAM_BYTES": "400000"},
    "h3": {"FAKE_OLLAMA_VRAM_BYTES": "1000000000", "ROCR_VISIBLE_DEVICES": "0"},
    "h6": {"FAKE_OLLAMA_VRAM_BYTES": "1000000000"},
}
VERSIONS = {"h3": "0.9.3"}  # the first version that honours ROCR_VISIBLE_DEVICES on NVIDIA nodes


class Standins:
    """Ollama stand-ins on fleet hosts under /opt/<unique>, on one port."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.base = f"/opt/bench-{uuid.uuid4().hex[:8]}"
        self.port = 20000 + uuid.uuid4().int % 20000
        self.hosts: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, host: str, knobs: dict[str, str], version: str = "0.5.7") -> None:
        root = self.fleet.path(host, self.base)
        write_standin_binary(root / "ollama", version)
        make_model(root / "models", MODEL, gguf_size=1_000_000)
        env = {"HOME": self.base, "OLLAMA_HOST": self.endpoint, "OLLAMA_MODELS": f"{self.base}/models",
               "FAKE_OLLAMA_ENV_FILE": f"{self.base}/no-knobs", "FAKE_OLLAMA_LOAD_SECONDS": "0.2",
               "FAKE_OLLAMA_TOKENS_PER_SECOND": str(RATE), "FAKE_OLLAMA_CPU_TOKENS_PER_SECOND": str(CPU_RATE),
               **knobs}
        assignments = " ".join(f"{k}={v}" for k, v in env.items())
        self.fleet.exec(host, f"cd {self.base} && setsid env {assignments} ./ollama serve >serve.log 2>&1 </dev/null & "
                              f"echo $! > {self.base}/pid")
        self.hosts.append(host)
        wait = f"for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/{self.port}) 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
        proc = self.fleet.exec(host, ["bash", "-c", wait], check=False)
        assert proc.returncode == 0, (root / "serve.log").read_text()

    def loaded(self, host: str) -> list[dict[str, Any]]:
        script = f"import json, urllib.request; print(urllib.request.urlopen('http://{self.endpoint}/api/ps').read().decode())"
        return json.loads(self.fleet.exec(host, ["python3", "-c", script]).stdout)["models"]

    def stop(self) -> None:
        for host in self.hosts:
            self.fleet.exec(host, f"kill $(cat {self.base}/pid)", check=False)


@pytest.fixture(scope="module")
def standins(fleet: Fleet) -> Iterator[Standins]:
    s = Standins(fleet)
    try:
        for host, knobs in KNOBS.items():
            s.start(host, knobs, VERSIONS.get(host, "0.5.7"))
        yield s
    finally:
        s.stop()


def planned(endpoint: str) -> dict[str, Any]:
    """deployer_models as ollama_model leaves it (deployer.ollama.models.Target.vars)."""
    return {"deepseek-r1": {"model": MODEL, "reason": "test plan: all on GPU", "endpoint": endpoint,
                            "placement": "gpu", "predicted_tokens_per_second": RATE, "memory_gib": 5.3,
                            "context": 8192, "num_parallel": 1}}


def inventory(fleet: Fleet, tmp_path: Path, standins: Standins, hosts: list[str], plan: bool = True) -> Path:
    group_vars = {"deployer_models": planned(standins.endpoint)} if plan else {}
    return fleet.write_inventory(tmp_path / "inventory.yml", fmt="yaml", hosts=hosts, group_vars=group_vars)


def playbook(tmp_path: Path, verify: str) -> Path:
    path = tmp_path / "verify.yml"
    path.write_text("- name: prove the fleet serves its model\n  hosts: fleet\n  verify:\n"
                    + textwrap.indent(textwrap.dedent(verify), "    "))
    return path


def benchmarks(result: CliResult) -> dict[str, dict[str, Any]]:
    """host -> its benchmark, from `deployer run --json`."""
    data = json.loads(result.stdout)
    out = {}
    for r in data["results"]:
        if r["action"] == "llm_benchmark":
            (b,) = r["data"]["benchmarks"]
            out[r["host"]] = b
    return out


@pytest.mark.fleet
def test_verify_measures_each_host_and_flags_the_spills(
        fleet: Fleet, standins: Standins, tmp_path: Path, deployer_cli: Callable[..., CliResult]) -> None:
    inv = inventory(fleet, tmp_path, standins, ["h1", "h2", "h3", "h6"])
    pb = playbook(tmp_path, "model: deepseek-r1\nruns: 3\nnum_predict: 30\n")
    res = deployer_cli("run", pb, "-i", inv, "--json", "--report", tmp_path / "report")
    assert res.rc == 0, res
    found = benchmarks(res)
    assert sorted(found) == ["h1", "h2", "h3", "h6"]

    for host in ("h1", "h6"):
        b = found[host]
        assert (b["model"], b["status"], b["flags"]) == (MODEL, "ok", []), host
        assert b["measured"]["tokens_per_second"]["median"] == pytest.approx(RATE, rel=TOLERANCE)
        assert b["measured"]["placement"]["label"] == "100% GPU"
        assert b["plan"]["tokens_per_second"] == RATE and b["plan"]["source"] == "deployer_models"
        assert b["measured"]["utilisation"]["samples"] >= 2  # sampled on the host, through the same SSH connection

    h2 = found["h2"]
    assert h2["status"] == "warn"
    assert h2["measured"]["tokens_per_second"]["median"] == pytest.approx(CPU_RATE, rel=TOLERANCE)
    assert h2["measured"]["placement"]["label"] == "60%/40% CPU/GPU"
    assert [f["kind"] for f in h2["flags"]] == ["spilled", "slower_than_predicted"]

    h3 = found["h3"]
    assert h3["measured"]["placement"]["label"] == "100% CPU"
    assert h3["measured"]["utilisation"]["server_env"] == {"ROCR_VISIBLE_DEVICES": "0"}
    spill = h3["flags"][0]
    assert spill["kind"] == "spilled" and any("ROCR_VISIBLE_DEVICES=0" in c for c in spill["causes"])
    assert "ROCR_VISIBLE_DEVICES=0 is set for the server" in res.stderr  # the warning, on the terminal

    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [h["host"] for h in data["hosts"]] == ["h1", "h2", "h3", "h6"]
    assert [h["status"] for h in data["hosts"]] == ["ok", "warn", "warn", "ok"]
    assert all(h["hardware"]["cpu"] for h in data["hosts"]), "facts gathered during the run are in the report"
    assert "Fleet report" in res.stderr and "60%/40% CPU/GPU" in res.stderr


@pytest.mark.fleet
def test_min_tokens_per_second_fails_the_slow_host_unless_only_warn(
        fleet: Fleet, standins: Standins, tmp_path: Path, deployer_cli: Callable[..., CliResult]) -> None:
    inv = inventory(fleet, tmp_path, standins, ["h1", "h2"])
    pb = playbook(tmp_path, "model: deepseek-r1\nruns: 2\nnum_predict: 12\nmin_tokens_per_second: 30\n")
    res = deployer_cli("run", pb, "-i", inv, "--json")
    assert res.rc == 4, res
    stats = json.loads(res.stdout)["stats"]
    assert (stats["h1"]["failed"], stats["h2"]["failed"]) == (0, 1)
    assert re.search(r"deepseek-r1:7b: 1\d\.\d tok/s is below min_tokens_per_second 30", res.stderr), res.stderr
    failed = benchmarks(res)["h2"]
    assert failed["status"] == "fail" and failed["measured"]["tokens_per_second"]["median"] == pytest.approx(CPU_RATE, rel=TOLERANCE)

    pb = playbook(tmp_path, "model: deepseek-r1\nruns: 2\nnum_predict: 12\nmin_tokens_per_second: 30\nonly_warn: true\n")
    res = deployer_cli("run", pb, "-i", inv)
    assert res.rc == 0, res
    assert "warning:" in res.stderr and "below min_tokens_per_second 30" in res.stderr


@pytest.mark.fleet
def test_check_mode_benchmarks_nothing_and_waits_for_earlier_changes(
        fleet: Fleet, standins: Standins, tmp_path: Path, deployer_cli: Callable[..., CliResult]) -> None:
    inv = fleet.write_inventory(tmp_path / "inventory.yml", fmt="yaml", hosts=["h1", "h4"])
    before = standins.loaded("h1")
    pb = playbook(tmp_path, f"model: {MODEL}\nendpoint: {standins.endpoint}\n")
    res = deployer_cli("run", pb, "-i", inv, "--check", "--json")
    assert res.rc == 4, res  # h4 has no Ollama and nothing earlier would install it
    results = {r["host"]: r for r in json.loads(res.stdout)["results"]}
    assert results["h1"]["status"] == "ok" and results["h1"]["msg"].startswith(f"would benchmark {MODEL}")
    assert results["h4"]["status"] == "failed" and "does not answer" in results["h4"]["msg"]
    assert standins.loaded("h1") == before, "--check generated on the host"

    earlier = tmp_path / "earlier.yml"
    earlier.write_text(textwrap.dedent(f"""\
        - hosts: fleet
          gather_facts: false
          pre_tasks:  # stack keys' tasks run after pre_tasks, before tasks
            - name: stands for the install the benchmark waits for
              command: "true"
          verify:
            model: {MODEL}
            endpoint: {standins.endpoint}
        """))
    res = deployer_cli("run", earlier, "-i", inv, "--check", "--limit", "h4", "--json")
    assert res.rc == 0, res
    (bench,) = [r for r in json.loads(res.stdout)["results"] if r["action"] == "llm_benchmark"]
    assert bench["status"] == "ok" and "would benchmark" in bench["msg"] and "not answering" in bench["msg"]


@pytest.mark.fleet
def test_deployer_bench_on_two_hosts_with_a_report(
        fleet: Fleet, standins: Standins, tmp_path: Path, deployer_cli: Callable[..., CliResult]) -> None:
    inv = inventory(fleet, tmp_path, standins, ["h1", "h2"], plan=False)
    out = tmp_path / "bench-report"
    res = deployer_cli("bench", "-i", inv, "--model", MODEL, "--runs", "2", "--num-predict", "12",
                       "--endpoint", standins.endpoint, "--report", out, "--json")
    assert res.rc == 0, res
    report = json.loads(res.stdout)
    assert report["source"] == "deployer bench"
    assert [h["host"] for h in report["hosts"]] == ["h1", "h2"]
    measured = {h["host"]: h["benchmarks"][0]["measured"]["tokens_per_second"]["median"] for h in report["hosts"]}
    assert measured["h1"] == pytest.approx(RATE, rel=TOLERANCE) and measured["h2"] == pytest.approx(CPU_RATE, rel=TOLERANCE)
    for h in report["hosts"]:
        assert h["benchmarks"][0]["plan"]["source"] in ("computed", "none")  # no deployer_models: from the facts
        assert f"{h['host']}: " in res.stderr  # a table per host, titled with its hardware
    assert json.loads((out / "report.json").read_text()) == report
    text = page_text(out / "report.html", tmp_path)
    assert "h1" in text and "h2" in text and "60%/40% CPU/GPU" in text
