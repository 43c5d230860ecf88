"""Release archives: member layout per version, formats, sha256sum.txt, and a bin/ollama that runs."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from tests.fakes.harness import clean_env, free_port
from tests.fakes.release import build_release, iter_members, write_sha256sums, write_standin_binary


def _names(path):
    return [m.name for m in iter_members(path)]


def test_old_tgz_layout_is_tar_of_dot(tmp_path):
    path = build_release(tmp_path, version="0.5.7")
    assert path.name == "ollama-linux-amd64.tgz"
    names = _names(path)
    assert names[0] == "." and "./bin/ollama" in names
    assert "./lib/ollama/runners/cuda_v12_avx/ollama_llama_server" in names
    members = {m.name: m for m in iter_members(path)}
    assert members["./bin/ollama"].mode == 0o755 and members["./bin/ollama"].uid == 0


def test_new_layouts_and_formats(tmp_path):
    tgz = build_release(tmp_path, version="0.6.2", arch="arm64")
    assert tgz.name == "ollama-linux-arm64.tgz"
    assert _names(tgz)[:3] == ["bin/ollama", "lib/ollama/libggml-base.so", "lib/ollama/libggml-cpu-haswell.so"]
    assert "lib/ollama/cuda_v12/libggml-cuda.so" in _names(tgz)
    zst = build_release(tmp_path, version="0.14.0")
    assert zst.name == "ollama-linux-amd64.tar.zst" and zst.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    rocm = build_release(tmp_path, version="0.14.0", variant="rocm")
    assert rocm.name == "ollama-linux-amd64-rocm.tar.zst"
    assert "bin/ollama" not in _names(rocm) and "lib/ollama/rocm/libggml-hip.so" in _names(rocm)
    forced = build_release(tmp_path / "f", version="0.14.0", fmt="tgz")
    assert forced.name == "ollama-linux-amd64.tgz"
    with pytest.raises(ValueError, match="fmt="):
        build_release(tmp_path, fmt="zip")


def test_padding_makes_it_big_and_incompressible(tmp_path):
    path = build_release(tmp_path, version="0.6.2", pad_bytes=3_000_000)
    assert path.stat().st_size > 3_000_000
    assert {m.name: m.size for m in iter_members(path)}["lib/ollama/cuda_v12/libcublasLt.so.12"] == 3_000_000
    assert build_release(tmp_path / "again", version="0.6.2", pad_bytes=3_000_000).read_bytes() == path.read_bytes()


def test_sha256sum_txt_format_checks_with_coreutils(tmp_path):
    build_release(tmp_path, version="0.5.7")
    build_release(tmp_path, version="0.5.7", variant="rocm")
    sums = write_sha256sums(tmp_path)
    lines = sums.read_text().splitlines()
    digest = hashlib.sha256((tmp_path / "ollama-linux-amd64.tgz").read_bytes()).hexdigest()
    assert lines == [lines[0], f"{digest}  ./ollama-linux-amd64.tgz"]
    assert lines[0].endswith("  ./ollama-linux-amd64-rocm.tgz")
    check = subprocess.run(["sha256sum", "-c", "sha256sum.txt"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("version,fmt,flag", [("0.5.7", "tgz", "-xzf"), ("0.14.2", "tar.zst", "--zstd")])
def test_extracted_binary_runs_with_baked_version(tmp_path, version, fmt, flag):
    path = build_release(tmp_path, version=version)
    dest = tmp_path / "usr"
    dest.mkdir()
    cmd = ["tar", flag, "-xf", str(path)] if flag == "--zstd" else ["tar", flag, str(path)]
    subprocess.run(cmd + ["-C", str(dest)], check=True)
    env = clean_env(OLLAMA_HOST=f"127.0.0.1:{free_port()}", FAKE_OLLAMA_VERSION="9.9.9")
    out = subprocess.run([str(dest / "bin" / "ollama"), "-v"], env=env, capture_output=True, text=True)
    assert out.stdout.splitlines()[-1] == f"Warning: client version is {version}"


def test_standin_binary_is_one_file(tmp_path):
    binary = write_standin_binary(tmp_path / "ollama", "0.6.0")
    assert binary.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    env = clean_env(OLLAMA_HOST=f"127.0.0.1:{free_port()}")
    out = subprocess.run([str(binary), "--version"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert "client version is 0.6.0" in out.stdout
