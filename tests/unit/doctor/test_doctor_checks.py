"""Doctor's verdicts from facts, probe output and the playbook's plan (no host needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployer.connection import LocalConnection
from deployer.doctor import checks_host, checks_plan
from deployer.doctor.probe import Extras, parse_extras
from deployer.doctor.verdict import HostReport, exit_status, fail, ok, warn
from deployer.errors import ExitStatus
from deployer.facts.model import GPU, HostFacts
from deployer.facts.parse import split_sections
from deployer.inventory import load_inventory
from deployer.llm.spec import parse_hardware_spec
from deployer.ollama.bundle import Bundle, create_from_store
from deployer.playbook import load
from deployer.stage.manifest import ArtifactsManifest, Entry
from deployer.stage.plan import HostPlan, make_plan
from tests.fakes.models import make_model

NODE = "node1"


def _facts(**changes: object) -> HostFacts:
    facts = parse_hardware_spec("gpu=RTX 4090,cpu=Ryzen 9 7900X,ram=64", hostname=NODE)
    facts = facts.model_copy(update={"user": "deploy", "home": "/home/deploy",
                                     "os": facts.os.model_copy(update={"glibc": "2.36", "systemd": True})})
    return facts.model_copy(update=changes)


def _plan(tmp_path: Path, play: dict, facts: HostFacts | None = None) -> HostPlan:
    pb = tmp_path / "pb.yml"
    pb.write_text(yaml.safe_dump([{"name": "p", "hosts": NODE, **play}], sort_keys=False))
    plan = make_plan([load(pb)], load_inventory([f"{NODE},"]), {}, {NODE: facts or _facts()})
    return plan.hosts[NODE]


def _ollama(mode: str = "system", **extra: object) -> dict:
    return {"version": "0.5.7", "mode": mode, "source": {"tarball": "art/ollama-0.5.7/ollama-linux-{{ deployer_facts.arch }}.tgz",
                                                         "sha256sums": "art/ollama-0.5.7/sha256sum.txt"}, **extra}


def test_sudo_verdicts(tmp_path: Path) -> None:
    system, user = _plan(tmp_path, {"ollama": _ollama()}), _plan(tmp_path, {"ollama": _ollama("user")})
    conn = LocalConnection(NODE)
    assert checks_host.sudo(system, _facts(is_root=True), Extras(), conn, None) == ok("sudo", "logged in as root")
    assert checks_host.sudo(system, _facts(), Extras(sudo="ok"), conn, None) == ok("sudo", "deploy has passwordless sudo")
    assert checks_host.sudo(user, _facts(), Extras(sudo="refused"), conn, None) == ok(
        "sudo", "not needed: no task of the playbook becomes root")
    v = checks_host.sudo(system, _facts(), Extras(sudo="refused", sudo_text="sudo: a password is required"), conn, None)
    assert v == fail("sudo", "sudo needs a password for deploy (sudo -n: sudo: a password is required)",
                     "set ansible_become_password (or run with -K), or use mode: user in the play's ollama: key (no root, no systemd)")
    assert checks_host.sudo(system, _facts(), Extras(sudo="none"), conn, None).detail == (
        "there is no sudo on node1, and the playbook becomes root")


def test_platform_verdicts(tmp_path: Path) -> None:
    old = _facts(os=_facts().os.model_copy(update={"glibc": "2.17"}))
    assert checks_host.platform(_plan(tmp_path, {"ollama": _ollama()}, old), old).status == "ok"  # 0.5.7 predates the rule
    v = checks_host.platform(_plan(tmp_path, {"ollama": _ollama(version="0.6.0")}, old), old)
    assert v.status == "fail" and v.detail.startswith("Ollama 0.6.0 needs glibc >= 2.27 (official builds since 0.5.13), this host has glibc 2.17")
    assert v.fix and "older than 0.5.13" in v.fix
    arm = _facts(arch="arm64", cpu=_facts().cpu.model_copy(update={"machine": "aarch64"}))
    pinned = _ollama(source={"tarball": "art/ollama-linux-amd64.tgz"})
    v = checks_host.platform(_plan(tmp_path, {"ollama": pinned}, arm), arm)
    assert v.status == "fail" and v.detail == "ollama-linux-amd64.tgz is an amd64 build, but node1 is arm64 (aarch64): nothing was sent"
    good = checks_host.platform(_plan(tmp_path, {"ollama": _ollama()}), _facts())
    assert good == ok("arch/glibc", "amd64, glibc 2.36: runs Ollama 0.5.7")
    ppc = _facts(arch="unknown", cpu=_facts().cpu.model_copy(update={"machine": "ppc64le"}))
    assert checks_host.platform(None, ppc) == fail("arch/glibc", "ppc64le: Ollama ships amd64 and arm64 builds only")


def test_systemd_gpu_and_docker_verdicts(tmp_path: Path) -> None:
    nosd = _facts(os=_facts().os.model_copy(update={"systemd": False}))
    v = checks_host.systemd(_plan(tmp_path, {"ollama": _ollama()}, nosd), nosd)
    assert v.status == "fail" and v.fix == "use mode: user in the play's ollama: key (a detached `ollama serve`, no root)"
    assert checks_host.systemd(_plan(tmp_path, {"ollama": _ollama("user")}, nosd), nosd).detail == "not running; not needed (mode: user)"

    gpu = _facts().gpus[0]
    assert checks_host.gpu(_facts(gpus=[gpu.model_copy(update={"driver": "550.54.15"})])).detail == (
        "1x RTX 4090, driver 550.54.15")
    v = checks_host.gpu(_facts(gpus=[gpu.model_copy(update={"driver": "470.82.01"})]))
    assert v.status == "warn" and "driver 470.82.01 is older than 531" in v.detail
    broken = _facts(gpus=[], notes=["an NVIDIA GPU is present but nvidia-smi is missing or failed: is the NVIDIA driver installed?"])
    assert checks_host.gpu(broken).status == "warn" and "deployer never installs drivers" in (checks_host.gpu(broken).fix or "")

    ui = {"frontend": {"open_webui": {"admin_email": "a@b.c", "admin_password": "x"}}}
    hp = _plan(tmp_path, ui)
    v = checks_host.docker(hp, _facts(), Extras())
    assert v == fail("docker", "no docker on node1, and Open WebUI runs in docker mode",
                     "install docker there, or use frontend.open_webui mode: pip (a wheelhouse)")
    usable = _facts(software=_facts().software.model_copy(update={"docker_version": "27.1.1", "docker_usable": True}))
    assert checks_host.docker(hp, usable, Extras()) == ok("docker", "docker 27.1.1 usable")
    denied = _facts(software=_facts().software.model_copy(update={"docker_version": "27.1.1"}),
                    notes=["docker is installed but `docker info` fails for this user: permission denied"])
    v = checks_host.docker(hp, denied, Extras())
    assert v.status == "fail" and v.fix == "add deploy to the docker group, or become root (become: true)"
    assert checks_host.docker(_plan(tmp_path, {"ollama": _ollama()}), _facts(), Extras()).status == "skip"


def test_the_rocr_visible_devices_trap(tmp_path: Path) -> None:
    slurm = _facts(env={"ROCR_VISIBLE_DEVICES": "0", "SLURM_JOB_ID": "42"})
    v = checks_host.rocr_trap(_plan(tmp_path, {"ollama": _ollama(version="0.9.3")}, slurm), slurm)
    assert v.status == "warn" and v.detail.startswith("ROCR_VISIBLE_DEVICES=0 is in the login environment (Slurm sets it): ")
    assert v.fix == "unset ROCR_VISIBLE_DEVICES before starting Ollama yourself"
    v = checks_host.rocr_trap(_plan(tmp_path, {"ollama": _ollama(version="0.9.3", env={"ROCR_VISIBLE_DEVICES": "0"})}, slurm), slurm)
    assert v.status == "fail" and "Ollama >= 0.9.3 then runs on the CPU" in v.detail
    assert checks_host.rocr_trap(_plan(tmp_path, {"ollama": _ollama()}, slurm), slurm).detail.startswith("set, but Ollama 0.5.7 predates 0.9.3")
    amd = slurm.model_copy(update={"gpus": [GPU(index=0, vendor="amd", name="Instinct MI210")]})
    assert checks_host.rocr_trap(None, amd).detail == "selects AMD GPUs here, as meant"
    assert checks_host.rocr_trap(None, _facts()).detail == "not set"


SS = """LISTEN 0      4096       127.0.0.1:11434      0.0.0.0:*    users:(("nginx",pid=812,fd=6))
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=77,fd=3))
LISTEN 0      4096       127.0.0.1:3000       0.0.0.0:*    users:(("docker-proxy",pid=901,fd=4))
@pid 11434 812 nginx: master process /usr/sbin/nginx
"""


def _extras(listen: str) -> Extras:
    return parse_extras(split_sections(f"@@deployer-facts:begin:doctor-listen@@\n{listen}\n@@deployer-facts:end:doctor-listen:0@@\n"))


def test_ports_verdicts(tmp_path: Path) -> None:
    extras = _extras(SS)
    assert extras.listening[11434] == ["nginx: master process /usr/sbin/nginx (pid 812)"]
    hp = _plan(tmp_path, {"ollama": _ollama(), "frontend": {"open_webui": {"admin_email": "a@b.c", "admin_password": "x"}}})
    assert checks_plan.port_use(hp, _facts(), extras) == fail(
        "ports", "port 11434 (ollama) is taken by nginx: master process /usr/sbin/nginx (pid 812)",
        "stop that process, or set ollama: listen to a free port")
    ours = _extras(SS.replace("nginx: master process /usr/sbin/nginx", "/opt/ollama/current/bin/ollama serve"))
    assert checks_plan.port_use(hp, _facts(), ours) == ok(
        "ports", "3000: Open WebUI (or its container) already listens; "
                 "11434: this play's Ollama already listens (/opt/ollama/current/bin/ollama serve (pid 812))")
    hidden = _extras("@proc\n  sl  local_address rem_address   st\n   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 0")
    assert checks_plan.port_use(hp, _facts(), hidden) == warn(
        "ports", "port 3000 (open-webui) is taken by a process this user cannot see",
        "if it is not this playbook's own server, free it or choose another port")


def _bundles(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    make_model(store, "qwen2.5:0.5b", params="494M", gguf_size=20_000)
    out = tmp_path / "art" / "bundles"
    create_from_store(store, "qwen2.5:0.5b", out)
    return out


def test_registry_verdicts(tmp_path: Path) -> None:
    _bundles(tmp_path)
    url = "https://registry.ollama.ai"
    down = Extras(reach={f"{url}/v2/": (False, "curl: (6) Could not resolve host: registry.ollama.ai 000")})
    pull = _plan(tmp_path, {"ollama": _ollama(), "models": [{"name": "qwen2.5:0.5b", "bundles": "art/bundles"}]})
    v = checks_plan.registry(pull, down, url)
    assert v == fail("registry", "https://registry.ollama.ai is not reachable from node1 (curl: (6) Could not resolve host: "
                     "registry.ollama.ai): pulling qwen2.5:0.5b will time out; its bundle is staged at "
                     f"{tmp_path}/art/bundles/qwen2.5/0.5b", "set source: bundle for it in the play's models:")
    fallback = _plan(tmp_path, {"ollama": _ollama(), "models": [{"name": "qwen2.5:0.5b", "bundles": "art/bundles", "fallback_to_bundle": True}]})
    assert checks_plan.registry(fallback, down, url).status == "warn"
    nothing = _plan(tmp_path, {"ollama": _ollama(), "models": [{"name": "llama3.1:8b", "bundles": "art/bundles"}]})
    v = checks_plan.registry(nothing, down, url)
    assert v.status == "fail" and "and no bundle of it is staged" in v.detail and (v.fix or "").startswith("stage them: deployer stage")
    up = Extras(reach={f"{url}/v2/": (True, "200")})
    assert checks_plan.registry(pull, up, url) == ok("registry", "https://registry.ollama.ai reachable from node1 (qwen2.5:0.5b pulled there)")
    offline = _plan(tmp_path, {"ollama": _ollama(), "models": [{"name": "qwen2.5:0.5b", "source": "bundle", "bundles": "art/bundles"}]})
    assert checks_plan.registry(offline, down, url).status == "skip"


def test_artefacts_verdicts(tmp_path: Path) -> None:
    bundles = _bundles(tmp_path)
    play = {"ollama": _ollama(), "models": [{"name": "qwen2.5:0.5b", "source": "bundle", "bundles": "art/bundles"}]}
    v = checks_plan.artefacts(_plan(tmp_path, play))
    assert v.status == "fail" and v.detail.startswith(
        f"ollama-linux-amd64.tgz (Ollama 0.5.7): not at {tmp_path}/art/ollama-0.5.7/ollama-linux-amd64.tgz; "
        f"sha256sum.txt of Ollama 0.5.7: not at {tmp_path}/art/ollama-0.5.7/sha256sum.txt")
    assert v.fix == checks_plan.STAGE_FIX
    rel = tmp_path / "art" / "ollama-0.5.7"
    rel.mkdir()
    (rel / "ollama-linux-amd64.tgz").write_bytes(b"archive")
    (rel / "sha256sum.txt").write_text("x")
    manifest = ArtifactsManifest(tmp_path / "art")
    manifest.record(Entry(kind="ollama-release", name="ollama-linux-amd64.tgz", version="0.5.7", arch="amd64",
                          file="ollama-0.5.7/ollama-linux-amd64.tgz", sha256="0" * 64, size=7, source="test"))
    digest = Bundle.open(bundles / "qwen2.5" / "0.5b").manifest.digest.removeprefix("sha256:")
    manifest.record(Entry(kind="model", name="qwen2.5:0.5b", version="0.5b", file="bundles/qwen2.5/0.5b", sha256=digest,
                          size=1, source="test"))
    assert checks_plan.artefacts(_plan(tmp_path, play)) == ok("artefacts", "3 present, 2 as staged (MANIFEST.json)")
    (rel / "ollama-linux-amd64.tgz").write_bytes(b"archive, changed")
    v = checks_plan.artefacts(_plan(tmp_path, play))
    assert v == fail("artefacts", "ollama-linux-amd64.tgz (Ollama 0.5.7): ollama-0.5.7/ollama-linux-amd64.tgz has 16 bytes, 7 when staged",
                     "stage them again (deployer stage): they changed since")


def test_exit_status() -> None:
    good = HostReport("a", verdicts=[ok("sudo", "fine")])
    bad = HostReport("b", verdicts=[fail("sudo", "no")])
    gone = HostReport("c", reachable=False, verdicts=[fail("reachable", "refused")])
    assert exit_status([good]) == ExitStatus.OK
    assert exit_status([good, gone]) == ExitStatus.UNREACHABLE
    assert exit_status([good, bad, gone]) == ExitStatus.HOST_FAILED


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
