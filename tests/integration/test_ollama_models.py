"""Models on fleet hosts through the real CLI: pulls from the registry stand-in (bound to the
controller's fleet address), offline bundles, the seed's "i/o timeout", --check, removal.

Each test starts the Ollama stand-in on its host itself (a packed binary as a
release ships it, `ollama serve` with OLLAMA_HOST/OLLAMA_MODELS and the
stand-in's registry knob), on its own port and models dir.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from deployer.llm.spec import parse_hardware_spec
from deployer.ollama.bundle import create_from_store
from tests.fakes.models import make_model, model_files
from tests.fakes.registry import RegistryServer
from tests.fakes.release import build_release_set, write_standin_binary
from tests.fleet import Fleet
from tests.fleet.deployer_cli import CliResult

PLAYBOOKS = Path(__file__).with_name("playbooks")
BIN = "/opt/deployer-test-models/ollama"
MODELS = {"deepseek-r1:1.5b": {"params": "1.8B", "gguf_size": 60_000},
          "qwen2.5:0.5b": {"params": "494M", "gguf_size": 30_000}}


@dataclass
class HostOllama:
    """An Ollama stand-in serving on a fleet host."""

    fleet: Fleet
    host: str
    port: int
    models_dir: str

    def tags(self) -> list[str]:
        script = (f"import json,urllib.request; print(json.dumps([m['name'] for m in json.load(urllib.request.urlopen("
                  f"'http://127.0.0.1:{self.port}/api/tags'))['models']]))")
        return json.loads(self.fleet.exec(self.host, ["python3", "-c", script]).stdout)

    def files(self, sub: str) -> dict[str, str]:
        """File name -> owner:group under models_dir/sub on the host."""
        out = self.fleet.exec(self.host, f"cd {self.models_dir}/{sub} 2>/dev/null && stat -c '%n %U:%G' * .??* 2>/dev/null; true").stdout
        return dict(line.rsplit(" ", 1) for line in out.splitlines())


@pytest.fixture(scope="module")
def registry(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    root = tmp_path_factory.mktemp("registry")
    for name, kw in MODELS.items():
        make_model(root, name, **kw)
    reg = RegistryServer(root, host=fleet.controller_address)
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture
def fresh_registry(registry: RegistryServer) -> Iterator[RegistryServer]:
    registry.set_mode("up")
    registry.heal()
    registry.clear_log()
    yield registry
    registry.set_mode("up")


@pytest.fixture(scope="module")
def bundles(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles")
    for name in MODELS:
        create_from_store(registry.root, name, out)
    return out


@pytest.fixture
def start_ollama(fleet: Fleet, registry: RegistryServer) -> Iterator[Callable[..., HostOllama]]:
    started: list[tuple[HostOllama, str]] = []

    def start(host: str, port: int, preload: tuple[str, ...] = ()) -> HostOllama:
        run = f"/tmp/deployer-test-models-{uuid.uuid4().hex[:8]}"
        models = f"/srv/{Path(run).name}"
        write_standin_binary(fleet.path(host, BIN), "0.5.7")
        for name in preload:
            make_model(fleet.path(host, models), name, **MODELS[name])
        busy = fleet.exec(host, f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 1)\"", check=False)
        assert busy.returncode != 0, f"something already listens on {host}:{port}"
        env = (f"OLLAMA_HOST=127.0.0.1:{port} OLLAMA_MODELS={models} HOME=/root FAKE_OLLAMA_ENV_FILE=/nonexistent "
               f"FAKE_OLLAMA_REGISTRY_URL={registry.url} FAKE_OLLAMA_DIAL_TIMEOUT=2 FAKE_OLLAMA_LOAD_SECONDS=0.01")
        fleet.exec(host, f"mkdir -p {run}; {env} setsid {BIN} serve >{run}/log 2>&1 </dev/null & echo $! >{run}/pid")
        wait = (f"import socket,time\nfor _ in range(100):\n  try: socket.create_connection(('127.0.0.1', {port}), 1); break\n"
                f"  except OSError: time.sleep(0.1)\nelse: raise SystemExit('not listening')")
        fleet.exec(host, ["python3", "-c", wait])
        ollama = HostOllama(fleet, host, port, models)
        started.append((ollama, run))
        return ollama

    yield start
    for ollama, run in started:
        fleet.exec(ollama.host, f"kill $(cat {run}/pid); sleep 0.2; rm -rf {run} {ollama.models_dir}", check=False)


def _inventory(fleet: Fleet, tmp_path: Path, *hosts: str) -> Path:
    return fleet.write_inventory(tmp_path / "inventory.ini", hosts=list(hosts))


def _run(deployer_cli: Callable[..., CliResult], playbook: str, inventory: Path, *args: str) -> tuple[CliResult, dict]:
    res = deployer_cli("run", PLAYBOOKS / playbook, "-i", inventory, "--json", *args)
    return res, (json.loads(res.stdout) if res.stdout.strip() else {})


def _vars(ollama: HostOllama, bundles: Path, model: str, **more: str) -> list[str]:
    values = {"model": model, "port": ollama.port, "models_dir": ollama.models_dir, "bundles": bundles, **more}
    return [a for k, v in values.items() for a in ("-e", f"{k}={v}")]


def _result(report: dict, host: str) -> dict:
    return next(r for r in report["results"] if r["host"] == host and r["action"] == "ollama_model")


def test_pull_through_the_models_key_then_nothing_on_the_rerun(
    fleet: Fleet, fresh_registry: RegistryServer, start_ollama, deployer_cli, tmp_path: Path
) -> None:
    ollama = start_ollama("h5", 11434)
    inv = _inventory(fleet, tmp_path, "h5")
    res, report = _run(deployer_cli, "models_key.yml", inv)
    assert res.rc == 0, res
    first = _result(report, "h5")
    assert first["status"] == "changed" and first["task"] == "Model deepseek-r1 (auto)"
    assert first["msg"].startswith("pulled deepseek-r1:1.5b (1.1 GB): ") and "CPU only" in first["msg"]
    assert first["data"]["model"] == "deepseek-r1:1.5b" and first["data"]["placement"] == "cpu"
    assert first["data"]["reason"] in first["msg"] and first["data"]["memory_gib"] > 1
    seen = next(r for r in report["results"] if r["action"] == "debug")["data"]["deployer_models"]
    assert seen["deepseek-r1"]["model"] == "deepseek-r1:1.5b" and seen["deepseek-r1"]["endpoint"] == "127.0.0.1:11434"
    assert len(set(fresh_registry.fetched_blobs())) == 5
    assert ollama.tags() == ["deepseek-r1:1.5b"]
    fresh_registry.clear_log()
    res, report = _run(deployer_cli, "models_key.yml", inv)
    assert res.rc == 0, res
    assert report["stats"]["h5"]["changed"] == 0 and _result(report, "h5")["status"] == "ok"
    assert fresh_registry.hits() == [], "the rerun went to the registry"


def test_unreachable_registry_is_explained_and_the_bundle_taken_instead(
    fleet: Fleet, fresh_registry: RegistryServer, bundles: Path, start_ollama, deployer_cli, tmp_path: Path
) -> None:
    ollama = start_ollama("h4", 11501)
    inv = _inventory(fleet, tmp_path, "h4")
    fresh_registry.set_mode("blackhole")  # SYNs dropped: the dial times out, as on an air-gapped node
    args = _vars(ollama, bundles, "deepseek-r1", size="1.5b", owner="deploy")
    res, report = _run(deployer_cli, "models_module.yml", inv, *args)
    assert res.rc == 4, res
    msg = _result(report, "h4")["msg"]
    assert "cannot pull deepseek-r1:1.5b: the registry registry.ollama.ai is unreachable from h4" in msg
    assert 'pull model manifest: Get "https://registry.ollama.ai/v2/library/deepseek-r1/manifests/1.5b": dial tcp' in msg
    assert "i/o timeout (tried 2 times)" in msg
    assert "`https_proxy: http://proxy:3128` in the play's `ollama:` key" in msg
    assert "`deployer bundle create deepseek-r1:1.5b -o artifacts/bundles`" in msg and "source: bundle" in msg
    assert ollama.tags() == []
    res, report = _run(deployer_cli, "models_module.yml", inv, *args, "-e", "fallback=true")
    assert res.rc == 0, res
    r = _result(report, "h4")
    assert r["status"] == "changed" and r["msg"].startswith("pushed bundle deepseek-r1:1.5b (5 blobs, ")
    assert "unreachable from h4" in r["warnings"][0] and "pushing the bundle from" in r["warnings"][0]
    assert r["data"]["blobs_sent"] == 5 and r["data"]["source"] == "bundle"
    assert ollama.tags() == ["deepseek-r1:1.5b"]
    blobs = ollama.files("blobs")
    assert sorted(blobs) == sorted(p.name for p in model_files(fresh_registry.root, "deepseek-r1:1.5b")[1:])
    owner = "deploy:" + fleet.exec("h4", "id -gn deploy").stdout.strip()  # the user and its login group
    assert set(blobs.values()) == {owner}
    assert ollama.files("manifests/registry.ollama.ai/library/deepseek-r1") == {"1.5b": owner}
    assert ollama.files("manifests/registry.ollama.ai/library") == {"deepseek-r1": owner}
    assert fresh_registry.fetched_blobs() == []


def test_bundles_send_only_missing_blobs_and_a_corrupt_one_is_refused(
    fleet: Fleet, registry: RegistryServer, bundles: Path, start_ollama, deployer_cli, tmp_path: Path
) -> None:
    ollama = start_ollama("h1", 11502)
    inv = _inventory(fleet, tmp_path, "h1")
    res, report = _run(deployer_cli, "models_module.yml", inv,
                       *_vars(ollama, bundles, "deepseek-r1", size="1.5b", source="bundle"))
    assert res.rc == 0, res
    assert _result(report, "h1")["data"]["blobs_sent"] == 5
    elsewhere = HostOllama(fleet, "h1", ollama.port, f"{ollama.models_dir}-not-the-servers")
    res, report = _run(deployer_cli, "models_module.yml", inv, *_vars(elsewhere, bundles, "qwen2.5:0.5b", source="bundle"))
    assert res.rc == 4, res  # pushed, but where the server does not look: its OLLAMA_MODELS is another dir
    assert _result(report, "h1")["msg"].startswith("Ollama on h1 does not list qwen2.5:0.5b afterwards; it lists: deepseek-r1:1.5b")
    fleet.exec("h1", f"rm -rf {elsewhere.models_dir}")

    res, report = _run(deployer_cli, "models_module.yml", inv, *_vars(ollama, bundles, "qwen2.5:0.5b", source="bundle"))
    assert res.rc == 0, res
    data = _result(report, "h1")["data"]
    shared_not = model_files(registry.root, "qwen2.5:0.5b")
    manifest = json.loads(shared_not[0].read_bytes())
    own = manifest["layers"][0]["size"] + manifest["config"]["size"]  # the GGUF and the config; the rest is shared
    assert (data["blobs_sent"], data["blobs_skipped"], data["bytes_sent"]) == (2, 3, own)
    assert _result(report, "h1")["msg"] == "pushed bundle qwen2.5:0.5b (2 blobs, 30 KB; 3 already on the host)"
    assert sorted(ollama.tags()) == ["deepseek-r1:1.5b", "qwen2.5:0.5b"]

    store = tmp_path / "store"
    make_model(store, "deepseek-r1:1.5b", params="1.8B", gguf_size=10_000)  # another build of the same tag
    create_from_store(store, "deepseek-r1:1.5b", tmp_path / "other")
    res, report = _run(deployer_cli, "models_module.yml", inv,
                       *_vars(ollama, tmp_path / "other", "deepseek-r1", size="1.5b", source="bundle"))
    r = _result(report, "h1")
    assert res.rc == 0 and r["status"] == "ok", res
    assert "h1 has another version of deepseek-r1:1.5b than the bundle" in r["warnings"][0]

    make_model(store, "llama3.2:1b", params="1.2B", gguf_size=40_000)
    bad = create_from_store(store, "llama3.2:1b", tmp_path / "bad")
    victim = bad.blobs[0].path
    data_bytes = victim.read_bytes()
    victim.unlink()
    victim.write_bytes(data_bytes[:-1] + bytes([data_bytes[-1] ^ 0xFF]))
    res, report = _run(deployer_cli, "models_module.yml", inv,
                       *_vars(ollama, tmp_path / "bad", "llama3.2:1b", source="bundle"))
    assert res.rc == 4, res
    assert f"blob {victim.name} of llama3.2:1b is corrupt" in _result(report, "h1")["msg"]
    assert victim.name not in ollama.files("blobs")
    assert ollama.files("manifests/registry.ollama.ai/library/llama3.2") == {}
    assert not any(victim.name in f for f in ollama.files(".deployer-staging"))
    assert "llama3.2:1b" not in ollama.tags()


def test_a_full_models_dir_is_refused_before_anything_is_sent(
    fleet: Fleet, bundles: Path, deployer_cli, tmp_path: Path
) -> None:
    small = f"/srv/small-{uuid.uuid4().hex[:8]}"
    fleet.exec("h3", f"mkdir -p {small} && mount -t tmpfs -o size=40k tmpfs {small}")
    try:
        idle = HostOllama(fleet, "h3", 11505, small)
        res, report = _run(deployer_cli, "models_module.yml", _inventory(fleet, tmp_path, "h3"), "--check",
                           *_vars(idle, bundles, "deepseek-r1", size="1.5b", source="bundle"))
        assert res.rc == 4, res
        assert _result(report, "h3")["msg"].startswith(
            f"not enough space for the bundle of deepseek-r1:1.5b on h3: 62 KB to write into {small}, 41 KB free at {small}")
    finally:
        fleet.exec("h3", f"umount {small}; rmdir {small}", check=False)


def test_check_changes_nothing_and_absent_removes(
    fleet: Fleet, fresh_registry: RegistryServer, bundles: Path, start_ollama, deployer_cli, tmp_path: Path
) -> None:
    inv = _inventory(fleet, tmp_path, "h3")
    idle = HostOllama(fleet, "h3", 11503, f"/srv/not-there-{uuid.uuid4().hex[:8]}")
    res, report = _run(deployer_cli, "models_module.yml", inv, "--check", *_vars(idle, bundles, "deepseek-r1", size="1.5b"))
    assert res.rc == 0, res
    assert _result(report, "h3")["msg"].startswith(
        f"would pull deepseek-r1:1.5b (1.1 GB) (in {idle.models_dir}; Ollama is not answering yet): ")
    res, report = _run(deployer_cli, "models_module.yml", inv, "--check",
                       *_vars(idle, bundles, "deepseek-r1", size="1.5b", source="bundle"))
    assert res.rc == 0, res
    assert _result(report, "h3")["msg"] == (f"would push bundle deepseek-r1:1.5b (5 blobs, 61 KB) "
                                            f"(in {idle.models_dir}; Ollama is not answering yet)")
    assert fleet.exec("h3", f"test -e {idle.models_dir}", check=False).returncode == 1
    assert fresh_registry.hits() == []

    ollama = start_ollama("h3", 11504, preload=("deepseek-r1:1.5b",))
    absent = _vars(ollama, bundles, "deepseek-r1:1.5b", state="absent")
    res, report = _run(deployer_cli, "models_module.yml", inv, "--check", *_vars(ollama, bundles, "deepseek-r1:1.5b"))
    assert _result(report, "h3")["status"] == "ok", res
    res, report = _run(deployer_cli, "models_module.yml", inv, "--check", *absent)
    assert _result(report, "h3")["msg"] == "would remove deepseek-r1:1.5b", res
    assert ollama.tags() == ["deepseek-r1:1.5b"]
    res, report = _run(deployer_cli, "models_module.yml", inv, *absent)
    assert res.rc == 0 and _result(report, "h3")["msg"] == "removed deepseek-r1:1.5b", res
    assert ollama.tags() == [] and ollama.files("blobs") == {}
    res, report = _run(deployer_cli, "models_module.yml", inv, *absent)
    assert res.rc == 0 and report["stats"]["h3"]["changed"] == 0, res


def test_models_follow_the_ollama_key_and_plan_before_it_ran(
    fleet: Fleet, fresh_registry: RegistryServer, bundles: Path, deployer_cli, tmp_path: Path
) -> None:
    build_release_set(tmp_path / "releases", "0.5.7")
    unique = uuid.uuid4().hex[:8]
    prefix, models_dir = f"/opt/m-{unique}", f"/srv/m-{unique}/models"
    inv = _inventory(fleet, tmp_path, "h2")
    args = [a for k, v in {"releases": tmp_path / "releases", "prefix": prefix, "port": 11507, "models_dir": models_dir,
                           "registry": fresh_registry.url, "bundles": bundles}.items() for a in ("-e", f"{k}={v}")]
    try:
        res, report = _run(deployer_cli, "models_with_ollama.yml", inv, "--check", *args)
        assert res.rc == 0, res
        msgs = [r["msg"] for r in report["results"] if r["action"] == "ollama_model"]
        not_yet = f"(in {models_dir}; Ollama is not answering yet)"
        assert msgs[0] == f"would push bundle deepseek-r1:1.5b (5 blobs, 61 KB) {not_yet}"
        assert msgs[1].startswith(f"would pull qwen2.5:0.5b (398 MB) {not_yet}: ")
        assert not fleet.path("h2", models_dir).exists()

        res, report = _run(deployer_cli, "models_with_ollama.yml", inv, *args)
        assert res.rc == 0, res
        ollama = HostOllama(fleet, "h2", 11507, models_dir)
        assert sorted(ollama.tags()) == ["deepseek-r1:1.5b", "qwen2.5:0.5b"]
        assert set(ollama.files("blobs").values()) == {"ollama:ollama"}
        res, report = _run(deployer_cli, "models_with_ollama.yml", inv, *args)
        assert res.rc == 0 and report["stats"]["h2"]["changed"] == 0, res
    finally:
        fleet.exec("h2", f"systemctl stop ollama; rm -rf {prefix} {models_dir}", check=False)


def test_size_auto_plans_a_tag_per_host_from_a_facts_file(fleet: Fleet, deployer_cli, tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"hosts": {
        "h1": parse_hardware_spec("gpu=RTX 4090,cpu=Ryzen 9 7900X,ram=128", hostname="h1").model_dump(mode="json"),
        "h2": parse_hardware_spec("cpu=Xeon Silver 4214,ram=8", hostname="h2").model_dump(mode="json"),
    }}))
    inv = _inventory(fleet, tmp_path, "h1", "h2")
    res, report = _run(deployer_cli, "models_plan.yml", inv, "--facts", facts, "--check")
    msgs = {h: _result(report, h)["msg"] for h in ("h1", "h2")}
    assert res.rc == 0, res
    assert msgs["h1"].startswith("would put deepseek-r1:32b (20 GB): RTX 4090 24 GiB: deepseek-r1:32b needs"), msgs
    assert msgs["h2"].startswith("would put deepseek-r1:8b (5.2 GB): Xeon Silver 4214, 8.0 GiB RAM free"), msgs
