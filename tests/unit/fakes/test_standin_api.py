"""The Ollama stand-in's HTTP API: on-disk layout, listing, generation timing, placement, side-loading."""

from __future__ import annotations

import hashlib
import json
import time

from tests.fakes.models import make_gguf, make_model, model_files, model_size
from tests.fakes.harness import http


def _pull(standin, name: str) -> list[dict]:
    return standin.stream("/api/pull", {"model": name})


def test_root_and_version(make_standin):
    s = make_standin(FAKE_OLLAMA_VERSION="0.6.2")
    assert http("GET", s.url + "/") == (200, b"Ollama is running")
    assert s.api("GET", "/api/version") == (200, {"version": "0.6.2"})
    assert http("GET", s.url + "/api/nope")[0] == 404


def test_pull_writes_ollamas_layout_and_streams_documented_statuses(make_standin, registry):
    manifest = make_model(registry.root, "deepseek-r1:7b", gguf_size=300_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    events = _pull(s, "deepseek-r1:7b")

    statuses = [e["status"] for e in events]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    model_digest = manifest["layers"][0]["digest"]
    layer_events = [e for e in events if e.get("digest") == model_digest]
    assert layer_events[0]["status"] == f"pulling {model_digest[7:19]}"
    assert layer_events[-1]["total"] == layer_events[-1]["completed"] == 300_000

    on_disk = s.models / "manifests/registry.ollama.ai/library/deepseek-r1/7b"
    assert on_disk.read_bytes() == (registry.root / "manifests/registry.ollama.ai/library/deepseek-r1/7b").read_bytes()
    expected = {p.name for p in model_files(registry.root, "deepseek-r1:7b")[1:]}
    assert {p.name for p in (s.models / "blobs").iterdir()} == expected
    assert all(n.startswith("sha256-") and len(n) == 71 for n in expected)


def test_tags_report_claimed_size_class_not_disk_size(make_standin, registry):
    manifest = make_model(registry.root, "deepseek-r1:7b", params="7.6B", quant="Q4_K_M",
                          family="qwen2", gguf_size=200_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    _pull(s, "deepseek-r1:7b")
    status, body = s.api("GET", "/api/tags")
    assert status == 200
    (model,) = body["models"]
    raw = (s.models / "manifests/registry.ollama.ai/library/deepseek-r1/7b").read_bytes()
    assert model["name"] == model["model"] == "deepseek-r1:7b"
    assert model["digest"] == hashlib.sha256(raw).hexdigest()
    assert model["size"] == model_size(manifest)
    assert model["details"] == {"parent_model": "", "format": "gguf", "family": "qwen2",
                                "families": ["qwen2"], "parameter_size": "7.6B",
                                "quantization_level": "Q4_K_M"}


def test_generate_speed_is_real_and_reported(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_TOKENS_PER_SECOND="40")
    _pull(s, "tiny:1b")
    started = time.monotonic()
    status, final = s.api("POST", "/api/generate", {"model": "tiny:1b", "prompt": "Why is the sky blue?",
                                                    "stream": False, "options": {"num_predict": 20, "seed": 7}})
    wall = time.monotonic() - started
    assert status == 200 and final["done"] is True and final["done_reason"] == "length"
    assert final["eval_count"] == 20
    rate = final["eval_count"] / final["eval_duration"] * 1e9
    assert 34 <= rate <= 41
    assert wall >= 20 / 40 * 0.95
    for key in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration"):
        assert final[key] > 0
    assert final["total_duration"] >= final["eval_duration"] + final["prompt_eval_duration"]
    again = s.api("POST", "/api/generate", {"model": "tiny:1b", "prompt": "Why is the sky blue?",
                                            "stream": False, "options": {"num_predict": 20, "seed": 7}})[1]
    assert again["response"] == final["response"] and len(final["response"].split()) == 20


def test_generate_streams_tokens_then_metrics(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_TOKENS_PER_SECOND="500")
    _pull(s, "tiny:1b")
    events = s.stream("/api/generate", {"model": "tiny:1b", "prompt": "hi", "options": {"num_predict": 5}})
    assert [e["done"] for e in events] == [False] * 5 + [True]
    assert events[-1]["response"] == "" and events[-1]["eval_count"] == 5
    assert events[0]["created_at"].endswith("Z")


def test_empty_prompt_loads_and_keep_alive_zero_unloads(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    _pull(s, "tiny:1b")
    assert s.api("GET", "/api/ps") == (200, {"models": []})
    status, body = s.api("POST", "/api/generate", {"model": "tiny:1b"})
    assert status == 200 and body["done_reason"] == "load"
    assert [m["name"] for m in s.api("GET", "/api/ps")[1]["models"]] == ["tiny:1b"]
    status, body = s.api("POST", "/api/generate", {"model": "tiny:1b", "keep_alive": 0})
    assert status == 200 and body["done_reason"] == "unload"
    assert s.api("GET", "/api/ps")[1]["models"] == []
    assert s.api("POST", "/api/generate", {"model": "nope:1b", "prompt": "x"}) == \
        (404, {"error": "model 'nope:1b' not found"})


def test_ps_places_the_model_by_vram_knob(make_standin, registry):
    manifest = make_model(registry.root, "tiny:1b", gguf_size=100_000)
    size = model_size(manifest)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_VRAM_BYTES=str(size // 2),
                     FAKE_OLLAMA_VERSION="0.12.0", OLLAMA_CONTEXT_LENGTH="8192")
    _pull(s, "tiny:1b")
    s.api("POST", "/api/generate", {"model": "tiny:1b", "keep_alive": "10m"})
    (loaded,) = s.api("GET", "/api/ps")[1]["models"]
    assert loaded["size"] == size and loaded["size_vram"] == size // 2
    assert loaded["context_length"] == 8192
    assert loaded["digest"] and "expires_at" in loaded
    big = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_VRAM_BYTES=str(10 * size))
    _pull(big, "tiny:1b")
    big.api("POST", "/api/generate", {"model": "tiny:1b"})
    (loaded,) = big.api("GET", "/api/ps")[1]["models"]
    assert loaded["size_vram"] == loaded["size"]
    assert "context_length" not in loaded  # 0.5.7 did not report it


def test_slurm_rocr_visible_devices_hides_nvidia_gpu_from_new_versions(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_VRAM_BYTES=str(10**9),
                     FAKE_OLLAMA_VERSION="0.9.3", ROCR_VISIBLE_DEVICES="0")
    _pull(s, "tiny:1b")
    s.api("POST", "/api/generate", {"model": "tiny:1b"})
    assert s.api("GET", "/api/ps")[1]["models"][0]["size_vram"] == 0


def test_blob_upload_then_create_from_gguf(make_standin, tmp_path):
    s = make_standin()
    gguf = tmp_path / "model.gguf"
    digest = make_gguf(gguf, size=40_000, params="1.8B", quant="Q8_0", family="qwen2")
    assert http("HEAD", f"{s.url}/api/blobs/{digest}")[0] == 404
    assert http("POST", f"{s.url}/api/blobs/{digest}", raw=b"not the gguf")[0] == 400
    assert http("POST", f"{s.url}/api/blobs/{digest}", raw=gguf.read_bytes())[0] == 201
    assert http("HEAD", f"{s.url}/api/blobs/{digest}")[0] == 200
    assert http("POST", f"{s.url}/api/blobs/{digest}", raw=gguf.read_bytes())[0] == 200
    assert http("HEAD", f"{s.url}/api/blobs/sha256:abc")[0] == 400

    events = s.stream("/api/create", {"model": "side:1.8b", "files": {"model.gguf": digest}})
    assert [e["status"] for e in events] == ["parsing GGUF", f"using existing layer {digest}",
                                            "writing manifest", "success"]
    (model,) = s.api("GET", "/api/tags")[1]["models"]
    assert model["name"] == "side:1.8b"
    assert model["details"]["parameter_size"] == "1.8B"
    assert model["details"]["quantization_level"] == "Q8_0"
    assert (s.models / "manifests/registry.ollama.ai/library/side/1.8b").is_file()
    bad = s.api("POST", "/api/create", {"model": "x", "stream": False})
    assert bad == (400, {"error": "neither 'from' or 'files' was specified"})


def test_copy_show_delete(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000, system="Be brief.")
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    _pull(s, "tiny:1b")
    assert s.api("POST", "/api/copy", {"source": "tiny:1b", "destination": "mine/tiny:v1"})[0] == 200
    assert s.api("POST", "/api/copy", {"source": "gone", "destination": "x"}) == \
        (404, {"error": 'model "gone" not found'})
    status, info = s.api("POST", "/api/show", {"model": "mine/tiny:v1"})
    assert status == 200 and info["system"] == "Be brief."
    assert info["details"]["parameter_size"] == "7.6B"
    assert info["model_info"]["general.architecture"] == "qwen2"
    assert info["modelfile"].startswith('# Modelfile generated by "ollama show"')
    blobs_before = set((s.models / "blobs").iterdir())
    assert s.api("DELETE", "/api/delete", {"model": "tiny:1b"})[0] == 200
    assert set((s.models / "blobs").iterdir()) == blobs_before  # still used by the copy
    assert s.api("DELETE", "/api/delete", {"model": "mine/tiny:v1"})[0] == 200
    assert list((s.models / "blobs").iterdir()) == []
    assert not (s.models / "manifests").exists()
    assert s.api("DELETE", "/api/delete", {"model": "tiny:1b"}) == (404, {"error": "model 'tiny:1b' not found"})


def test_chat_answers_as_assistant(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_TOKENS_PER_SECOND="1000")
    _pull(s, "tiny:1b")
    status, body = s.api("POST", "/api/chat", {"model": "tiny:1b", "stream": False,
                                               "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200 and body["done"] is True
    assert body["message"]["role"] == "assistant" and body["message"]["content"]
    assert body["eval_count"] == len(body["message"]["content"].split())


def test_prune_on_restart_unless_noprune(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    _pull(s, "tiny:1b")
    stray = s.models / "blobs" / ("sha256-" + "ab" * 32)
    stray.write_bytes(b"orphan")
    partial = s.models / "blobs" / ("sha256-" + "cd" * 32 + "-partial")
    partial.write_bytes(b"half")
    s.stop()
    s.start(OLLAMA_NOPRUNE="1")
    assert stray.exists() and partial.exists()
    s.stop()
    s.start(OLLAMA_NOPRUNE="")
    log = s.stop()
    assert not stray.exists() and not partial.exists()
    assert len(list((s.models / "blobs").iterdir())) == 5  # the model's own blobs stay
    assert 'msg="total unused blobs removed: 1"' in log
    assert "msg=\"Listening on 127.0.0.1:" in log and "(version 0.5.7)" in log


def test_bind_failure_reads_like_go(make_standin):
    first = make_standin()
    second = make_standin(start=False)
    second.env["OLLAMA_HOST"] = first.env["OLLAMA_HOST"]
    result = second.cli("serve")
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        f"Error: listen tcp 127.0.0.1:{first.port}: bind: address already in use")
    assert json.loads(http("GET", first.url + "/api/version")[1])["version"]


def test_listens_on_every_address_for_a_bare_port(make_standin):
    s = make_standin(start=False)
    s.env["OLLAMA_HOST"] = f":{s.port}"
    s.start()
    assert s.cli("-v").stdout == "ollama version is 0.5.7\n"
    assert f'msg="Listening on [::]:{s.port} (version 0.5.7)"' in s.stop()


def test_models_dir_that_cannot_be_created(make_standin, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    s = make_standin(start=False, OLLAMA_MODELS=str(blocker))
    result = s.cli("serve")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"Error: mkdir {blocker}/blobs: not a directory"


def test_a_model_too_big_for_ram_fails_to_load(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=100_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_RAM_BYTES="50000")
    _pull(s, "tiny:1b")
    status, body = s.api("POST", "/api/generate", {"model": "tiny:1b", "prompt": "hi", "stream": False})
    assert status == 500
    assert body["error"].startswith("model requires more system memory (")
