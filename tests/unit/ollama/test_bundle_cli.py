"""`deployer bundle create` and `deployer bundle inspect`, run in-process through the real CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from deployer.cli import Env, main
from deployer.errors import ExitStatus
from tests.fakes.models import make_model, model_files


def _cli(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), Env(stdout=out, stderr=err, environ=environ or {}, color=False))
    return int(rc), out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _own_digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_create_reads_ollama_models_and_inspect_lists_and_verifies(tmp_path: Path) -> None:
    store = tmp_path / "store"
    make_model(store, "deepseek-r1:1.5b", params="1.8B", gguf_size=40_000)
    make_model(store, "qwen2.5:0.5b", params="494M", gguf_size=20_000)
    out_dir = tmp_path / "bundles"
    rc, out, err = _cli("bundle", "create", "deepseek-r1:1.5b", "qwen2.5:0.5b", "-o", str(out_dir), "--json",
                        environ={"OLLAMA_MODELS": str(store)})
    assert rc == 0, err
    made = json.loads(out)
    assert [m["model"] for m in made] == ["deepseek-r1:1.5b", "qwen2.5:0.5b"]
    assert made[0]["blob_count"] == 5 and made[0]["blobs"][0]["kind"] == "model"
    assert f"{out_dir / 'deepseek-r1' / '1.5b'}: deepseek-r1:1.5b (5 blobs, 41 KB)" in err
    rc, out, err = _cli("bundle", "inspect", str(out_dir), "--verify", "--json")
    assert rc == 0, err
    assert [(b["model"], b["verified"]) for b in json.loads(out)] == [("deepseek-r1:1.5b", True), ("qwen2.5:0.5b", True)]
    assert "every blob verified" in err and "template" in err
    victim = out_dir / "qwen2.5" / "0.5b" / "blobs" / model_files(store, "qwen2.5:0.5b")[1].name
    data = victim.read_bytes()
    victim.unlink()  # a hard link into the store: replace it, do not edit the store's copy
    victim.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    rc, out, err = _cli("bundle", "inspect", str(out_dir / "qwen2.5" / "0.5b"), "--verify")
    assert rc == ExitStatus.BAD_INPUT and f"blob {victim.name} of qwen2.5:0.5b is corrupt" in err


def test_create_errors_are_input_errors(tmp_path: Path) -> None:
    rc, _, err = _cli("bundle", "create", "deepseek-r1:7b", "--models-dir", str(tmp_path / "none"), "-o", str(tmp_path / "b"))
    assert rc == ExitStatus.BAD_INPUT and "deepseek-r1:7b is not in the Ollama store" in err
    rc, _, err = _cli("bundle", "create", "bad name", "-o", str(tmp_path / "b"))
    assert rc == ExitStatus.USAGE and "model name 'bad name'" in err
    rc, _, err = _cli("bundle", "inspect", str(tmp_path))
    assert rc == ExitStatus.BAD_INPUT and "no bundles at or below" in err
