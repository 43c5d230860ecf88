"""`deployer stage` with an explicit list, against the upstream stand-ins: what lands where, what a rerun
fetches (nothing), and the failures, each with its message: a wrong-digest blob, a connection dropped
halfway (then resumed), a tag or release that does not exist, an untrusted proxy, no upstream at all."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from deployer.errors import ExitStatus
from deployer.ollama.bundle import Bundle
from deployer.ollama.release import parse_sha256sums
from tests.fakes.models import make_model
from tests.fakes.release import build_release_set
from tests.unit.stage.conftest import Cli
from tests.unit.stage.servers import MODELS, Upstream

QWEN = "qwen2.5:0.5b"


def _items(stdout: str) -> dict[tuple[str, str], dict]:
    return {(i["kind"], i["name"]): i for i in json.loads(stdout)["items"]}


def test_releases_and_models_land_verified_and_a_rerun_fetches_nothing(fresh: Upstream, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    argv = ["stage", "-o", out, "--ollama", "v0.5.7", "--arch", "amd64", "--arch", "arm64", "--rocm",
            "--model", "deepseek-r1:1.5b", "--model", QWEN, "--json", *fresh.args]
    rc, stdout, err = cli(*argv, environ=fresh.env)
    assert rc == 0, err
    items = _items(stdout)
    assert sorted(n for k, n in items if k == "ollama-release") == [
        "ollama-linux-amd64-rocm.tgz", "ollama-linux-amd64.tgz", "ollama-linux-arm64.tgz"]  # no arm64 rocm build
    assert {i["status"] for i in items.values()} == {"fetched"}
    sums = parse_sha256sums((out / "ollama-0.5.7" / "sha256sum.txt").read_text())
    for name in ("ollama-linux-amd64.tgz", "ollama-linux-arm64.tgz", "ollama-linux-amd64-rocm.tgz"):
        assert hashlib.sha256((out / "ollama-0.5.7" / name).read_bytes()).hexdigest() == sums[name]
    for name in MODELS:
        bundle = Bundle.open(out / "bundles" / name.replace(":", "/"))
        bundle.verify()
        assert items[("model", name)]["size"] == bundle.total_size
    manifest = json.loads((out / "MANIFEST.json").read_text())["entries"]
    release = next(e for e in manifest if e["name"] == "ollama-linux-arm64.tgz")
    assert release["sha256"] == sums["ollama-linux-arm64.tgz"] and release["arch"] == "arm64" and release["version"] == "0.5.7"
    assert release["source"].endswith("/ollama/ollama/releases/download/v0.5.7/ollama-linux-arm64.tgz")
    assert release["file"] == "ollama-0.5.7/ollama-linux-arm64.tgz"
    assert any("r2.cloudflarestorage.com:443" in line for line in fresh.proxy.log), "blobs did not come through the CDN redirect"
    assert "see " in err and "MANIFEST.json" in err

    fresh.registry.clear_log()
    rc, stdout, err = cli(*argv, environ=fresh.env)
    assert rc == 0, err
    assert {i["status"] for i in _items(stdout).values()} == {"kept"}
    assert fresh.registry.hits() == [], "the rerun asked upstream"


def test_a_wrong_digest_blob_is_named_deleted_and_the_rest_is_staged(fresh: Upstream, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    digest = fresh.blob(QWEN)
    fresh.registry.corrupt_blob(digest)
    rc, stdout, err = cli("stage", "-o", out, "--model", QWEN, "--model", "deepseek-r1:1.5b", "--json", *fresh.args, environ=fresh.env)
    assert rc == ExitStatus.HOST_FAILED
    items = _items(stdout)
    assert items[("model", "deepseek-r1:1.5b")]["status"] == "fetched"
    error = items[("model", QWEN)]["error"]
    assert error.startswith(f"model {QWEN}: blob {digest[:19]} (model, 300 KB): the downloaded data hashes to sha256:")
    assert f", not to the blob's digest; deleted (downloaded from {fresh.registry.url}/v2/library/qwen2.5/blobs/{digest})" in error
    assert error.endswith("(the server or a proxy on the way sent corrupt data; rerun `deployer stage` to fetch it again)")
    assert f"error: {error}" in err.replace("\n", " ") or error[:60] in err
    assert not (out / "bundles" / "qwen2.5" / "0.5b").exists()
    partial = out / "bundles" / "qwen2.5" / ".0.5b.partial" / "blobs"
    kept = {p.name for p in partial.iterdir()}
    assert digest.replace(":", "-") not in kept and not any(n.endswith(".part") for n in kept)
    assert len(kept) == len({layer["digest"] for layer in fresh.manifests[QWEN]["layers"]} | {fresh.manifests[QWEN]["config"]["digest"]}) - 1

    fresh.registry.heal()
    fresh.registry.clear_log()
    rc, stdout, err = cli("stage", "-o", out, "--model", QWEN, "--json", *fresh.args, environ=fresh.env)
    assert rc == 0, err
    assert fresh.registry.fetched_blobs() == [digest], "blobs verified before were fetched again"
    Bundle.open(out / "bundles" / "qwen2.5" / "0.5b").verify()


def test_a_connection_dropped_halfway_is_resumed_within_the_run(fresh: Upstream, cli: Cli, tmp_path: Path) -> None:
    digest = fresh.blob(QWEN)
    fresh.registry.drop_blob(digest, 120_000, times=1)
    rc, _, err = cli("stage", "-o", tmp_path / "a", "--model", QWEN, *fresh.args, environ=fresh.env)
    assert rc == 0, err
    hits = [h for h in fresh.registry.hits("blob-data") if h.digest == digest]
    assert [(h.range, h.sent) for h in hits] == [(None, 120_000), ("bytes=120000-", 180_000)]


def test_a_download_cut_too_often_keeps_its_bytes_and_the_rerun_resumes(fresh: Upstream, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    digest = fresh.blob(QWEN)
    fresh.registry.drop_blob(digest, 100_000, times=1)
    rc, _, err = cli("stage", "-o", out, "--model", QWEN, "--retries", "0", *fresh.args, environ=fresh.env)
    assert rc == ExitStatus.HOST_FAILED
    text = " ".join(err.split())
    assert (f"error: model {QWEN}: blob {digest[:19]} (model, 300 KB): the download from "
            f"{fresh.registry.url}/v2/library/qwen2.5/blobs/{digest} failed once, last: "
            "the connection ended after 100000 of 300000 bytes; 100000 of 300000 bytes are kept "
            "(rerun `deployer stage`: it resumes where this stopped)") in text
    fresh.registry.clear_log()
    rc, _, err = cli("stage", "-o", out, "--model", QWEN, *fresh.args, environ=fresh.env)
    assert rc == 0, err
    hits = [h for h in fresh.registry.hits("blob-data") if h.digest == digest]
    assert [(h.range, h.sent) for h in hits] == [("bytes=100000-", 200_000)]
    Bundle.open(out / "bundles" / "qwen2.5" / "0.5b").verify()


def test_a_tag_the_registry_does_not_have(fresh: Upstream, cli: Cli, tmp_path: Path) -> None:
    fresh.registry.hide(QWEN)
    rc, _, err = cli("stage", "-o", tmp_path / "a", "--model", QWEN, "--model", "qwen2.5:99b", *fresh.args, environ=fresh.env)
    assert rc == ExitStatus.HOST_FAILED
    text = " ".join(err.split())
    for tag in ("0.5b", "99b"):
        assert (f"error: model qwen2.5:{tag}: the registry has no such tag ({fresh.registry.url}/v2/library/qwen2.5/manifests/{tag} "
                "answered 404) (check the name and tag at https://ollama.com/library/qwen2.5/tags; the catalogue may name a tag "
                "the registry does not have)") in text


def test_a_release_that_does_not_exist_and_an_archive_that_does_not_match_its_checksum(
    fresh: Upstream, cli: Cli, tmp_path: Path
) -> None:
    rc, _, err = cli("stage", "-o", tmp_path / "a", "--ollama", "9.9.9", *fresh.args, environ=fresh.env)
    assert rc == ExitStatus.HOST_FAILED
    url = f"{fresh.registry.url}/ollama/ollama/releases/download/v9.9.9/sha256sum.txt"
    assert (f"error: Ollama 9.9.9: {url} answered 404: is 9.9.9 a release? (the versions are listed at "
            "https://github.com/ollama/ollama/releases)") in " ".join(err.split())

    rel = build_release_set(fresh.workdir / "releases", "0.6.0")
    archive = rel / "ollama-linux-amd64.tgz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))  # sha256sum.txt still has the real digest
    rc, _, err = cli("stage", "-o", tmp_path / "b", "--ollama", "0.6.0", *fresh.args, environ=fresh.env)
    assert rc == ExitStatus.HOST_FAILED
    text = " ".join(err.split())
    want = parse_sha256sums((rel / "sha256sum.txt").read_text())["ollama-linux-amd64.tgz"]
    got = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (f"error: ollama-linux-amd64.tgz (Ollama 0.6.0): the downloaded data hashes to sha256:{got}, not sha256:{want}; "
            "deleted (downloaded from ") in text
    assert not list((tmp_path / "b" / "ollama-0.6.0").glob("ollama-linux-amd64.tgz*"))


def test_the_cdn_hop_needs_the_proxys_ca_and_says_so(fresh: Upstream, cli: Cli, tmp_path: Path) -> None:
    rc, _, err = cli("stage", "-o", tmp_path / "a", "--model", QWEN, "--retries", "0", *fresh.args,
                     environ={"HTTPS_PROXY": fresh.proxy.url})
    assert rc == ExitStatus.HOST_FAILED
    text = " ".join(err.split())
    assert "cannot reach https://dd20bb891979d25aebc8bec07b2b3bbc.r2.cloudflarestorage.com/ollama/docker/registry/v2/blobs/sha256/" in text
    assert f"/data (where {fresh.registry.url}/v2/library/qwen2.5/blobs/sha256:" in text
    assert "TLS certificate not trusted" in text and "SSL_CERT_FILE for a TLS-inspecting proxy" in text


def test_no_upstream_at_all(cli: Cli, tmp_path: Path) -> None:
    rc, _, err = cli("stage", "-o", tmp_path / "a", "--model", QWEN, "--retries", "0", "--registry-url", "http://127.0.0.1:9")
    assert rc == ExitStatus.HOST_FAILED
    assert ("error: cannot reach http://127.0.0.1:9/v2/library/qwen2.5/manifests/0.5b: Connection refused (tried once) "
            "(no internet here? set HTTPS_PROXY") in " ".join(err.split())


def test_list_downloads_nothing_and_usage_errors(fresh: Upstream, cli: Cli, tmp_path: Path) -> None:
    rc, stdout, err = cli("stage", "-o", tmp_path / "a", "--list", "--json", "--model", QWEN, "--ollama", "0.5.7", *fresh.args)
    assert rc == 0, err
    assert json.loads(stdout)["items"] == [
        {"kind": "ollama-release", "name": "ollama-linux-amd64.tgz", "version": "0.5.7", "arch": "amd64", "hosts": []},
        {"kind": "model", "name": QWEN, "version": "0.5b", "arch": None, "hosts": []}]
    assert fresh.registry.hits() == [] and not (tmp_path / "a").exists()
    rc, _, err = cli("stage", "-o", tmp_path / "a")
    assert rc == ExitStatus.USAGE and "nothing to stage" in err
    rc, _, err = cli("stage", "-i", "localhost,", "--model", QWEN)
    assert rc == ExitStatus.USAGE and "plan from a playbook" in err
    rc, _, err = cli("stage", "--model", "no good:x")
    assert rc == ExitStatus.USAGE and "e.g. --model deepseek-r1:7b" in err


def test_refresh_asks_the_registry_again_and_restages_a_moved_tag(fresh: Upstream, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    argv = ["stage", "-o", out, "--model", "llama3.2:1b", "--json", *fresh.args]
    make_model(fresh.registry.root, "llama3.2:1b", params="1.2B", gguf_size=40_000)
    rc, _, err = cli(*argv, environ=fresh.env)
    assert rc == 0, err
    old = Bundle.open(out / "bundles" / "llama3.2" / "1b").manifest.digest
    make_model(fresh.registry.root, "llama3.2:1b", params="1.2B", gguf_size=41_000)  # the tag now points elsewhere
    fresh.registry.clear_log()
    rc, stdout, err = cli(*argv, environ=fresh.env)
    assert rc == 0 and _items(stdout)[("model", "llama3.2:1b")]["status"] == "kept", err
    assert fresh.registry.hits() == []
    rc, stdout, err = cli(*argv, "--refresh", environ=fresh.env)
    assert rc == 0 and _items(stdout)[("model", "llama3.2:1b")]["status"] == "fetched", err
    new = Bundle.open(out / "bundles" / "llama3.2" / "1b")
    new.verify()
    assert new.manifest.digest != old
    assert json.loads((out / "MANIFEST.json").read_text())["entries"][0]["sha256"] == new.manifest.digest.removeprefix("sha256:")
    fresh.registry.clear_log()
    rc, stdout, err = cli(*argv, "--refresh", environ=fresh.env)
    assert rc == 0 and _items(stdout)[("model", "llama3.2:1b")]["status"] == "kept", err
    assert [h.kind for h in fresh.registry.hits()] == ["manifest"]  # asked, unchanged, nothing fetched
