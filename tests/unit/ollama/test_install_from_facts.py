"""ollama_install planned from a `deployer facts -o` file: no host is contacted."""

from __future__ import annotations

import io
import json
from pathlib import Path

from deployer.cli import Env, main
from deployer.facts.model import HostFacts

PLAYBOOK = """
- hosts: all
  ollama:
    version: "VERSION"
    source: {tarball: "art/ollama-linux-{{ deployer_facts.arch }}.tgz"}
    mode: user
"""


def plan(tmp_path: Path, arch: str, glibc: str, version: str = "0.5.7") -> dict:
    facts = HostFacts(hostname="node01", arch=arch)
    facts.os.glibc = glibc
    (tmp_path / "facts.json").write_text(json.dumps({"hosts": {"node01": facts.model_dump(mode="json")}}))
    (tmp_path / "pb.yml").write_text(PLAYBOOK.replace("VERSION", version))
    # an inventory whose host does not exist anywhere: any connection attempt would fail
    (tmp_path / "inv.ini").write_text("node01 ansible_host=192.0.2.1\n")
    out, err = io.StringIO(), io.StringIO()
    rc = main(["run", str(tmp_path / "pb.yml"), "-i", str(tmp_path / "inv.ini"), "--check", "--facts", str(tmp_path / "facts.json"), "--json"],
              Env(stdout=out, stderr=err, environ={}, color=False))
    report = json.loads(out.getvalue())
    report["rc"] = int(rc)
    return report


def test_a_fitting_host_is_planned_without_contact(tmp_path: Path) -> None:
    report = plan(tmp_path, "arm64", "2.36")
    install = next(r for r in report["results"] if r["action"] == "ollama_install")
    assert install["status"] == "changed"
    assert install["msg"] == "would install Ollama 0.5.7 (ollama-linux-arm64.tgz; arm64, glibc 2.36: fits)"
    assert report["stats"]["node01"]["unreachable"] == 0


def test_old_glibc_is_refused_from_the_facts_alone(tmp_path: Path) -> None:
    # official builds need glibc >= 2.27 since 0.5.13
    assert next(r for r in plan(tmp_path, "amd64", "2.17", "0.5.7")["results"] if r["action"] == "ollama_install")["status"] == "changed"
    report = plan(tmp_path, "amd64", "2.17", "0.6.0")
    install = next(r for r in report["results"] if r["action"] == "ollama_install")
    assert install["status"] == "failed" and "glibc" in install["msg"] and "2.17" in install["msg"]
    assert report["rc"] == 4
