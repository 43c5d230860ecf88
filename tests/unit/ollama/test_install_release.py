"""Release archives: names, formats, sha256sum.txt, glibc rule (deployer.ollama.release)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.errors import InputError, NotStaged
from deployer.ollama.release import (
    ArchiveName,
    expected_digest,
    glibc_problem,
    human_bytes,
    normalize_version,
    parse_archive_name,
    parse_sha256sums,
    read_sha256sums,
    release_file,
    release_format,
)
from tests.fakes.release import build_release_set

HEX_A = "966785e81162a4700cb32065d69c041a53103eb14f3f26cb2537ed50ce9c7ab5"
HEX_B = "47c66e451283b129b831ed8a794d61f834660073865f872ff2548611294ecf71"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ollama-linux-amd64.tgz", ArchiveName("ollama-linux-amd64.tgz", "tgz", "amd64", "")),
        ("ollama-linux-arm64.tar.zst", ArchiveName("ollama-linux-arm64.tar.zst", "tar.zst", "arm64", "")),
        ("ollama-linux-amd64-rocm.tgz", ArchiveName("ollama-linux-amd64-rocm.tgz", "tgz", "amd64", "rocm")),
        ("ollama-linux-arm64-jetpack6.tar.zst", ArchiveName("ollama-linux-arm64-jetpack6.tar.zst", "tar.zst", "arm64", "jetpack6")),
        ("ollama-linux-amd64.tar", ArchiveName("ollama-linux-amd64.tar", "tar", "amd64", "")),
        # renamed by someone: the format still shows, the architecture does not
        ("ollama-0.5.7.tgz", ArchiveName("ollama-0.5.7.tgz", "tgz", None, "")),
    ],
)
def test_archive_names(name: str, expected: ArchiveName) -> None:
    assert parse_archive_name(name) == expected


def test_unsupported_archive_format_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"ollama-linux-amd64\.zip: not an Ollama release archive"):
        parse_archive_name("ollama-linux-amd64.zip")


@pytest.mark.parametrize(
    "version, fmt, file",
    [
        ("0.5.7", "tgz", "ollama-linux-amd64.tgz"),
        ("v0.13.5", "tgz", "ollama-linux-amd64.tgz"),
        ("0.14.0", "tar.zst", "ollama-linux-amd64.tar.zst"),
        ("0.15.2-rc1", "tar.zst", "ollama-linux-amd64.tar.zst"),
    ],
)
def test_format_by_version(version: str, fmt: str, file: str) -> None:
    assert release_format(version) == fmt
    assert release_file("amd64", version) == file


def test_rocm_file_name_and_version_normalised() -> None:
    assert release_file("amd64", "0.6.0", "rocm") == "ollama-linux-amd64-rocm.tgz"
    assert normalize_version(" v0.6.0") == "0.6.0"


@pytest.mark.parametrize(
    "version, glibc, problem",
    [
        ("0.5.13", "2.17", "Ollama 0.5.13 needs glibc >= 2.27 (official builds since 0.5.13), this host has glibc 2.17"),
        ("0.6.0", "2.26", "needs glibc >= 2.27"),
        ("0.5.12", "2.17", None),  # older builds still ran on CentOS 7
        ("0.6.0", "2.27", None),
        ("0.6.0", "2.36", None),
        ("0.6.0", None, None),  # unknown: the caller warns
    ],
)
def test_glibc_rule(version: str, glibc: str | None, problem: str | None) -> None:
    got = glibc_problem(version, glibc)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got


def test_sha256sums_in_upstreams_format() -> None:
    text = f"{HEX_A}  ./ollama-linux-amd64.tgz\n{HEX_B.upper()} *ollama-linux-arm64.tgz\n\n# comment\n"
    assert parse_sha256sums(text) == {"ollama-linux-amd64.tgz": HEX_A, "ollama-linux-arm64.tgz": HEX_B}


def test_sha256sums_written_by_the_release_stand_in(tmp_path: Path) -> None:
    outdir = build_release_set(tmp_path, "0.5.7", archs=("amd64", "arm64"))
    sums = read_sha256sums(outdir / "sha256sum.txt")
    assert sorted(sums) == ["ollama-linux-amd64.tgz", "ollama-linux-arm64.tgz"]
    assert all(len(v) == 64 for v in sums.values())


def test_bad_sha256sums_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sha256sum.txt"
    path.write_text(f"{HEX_A}  ./ollama-linux-amd64.tgz\nnot-a-digest  ./ollama-linux-arm64.tgz\n")
    with pytest.raises(InputError) as info:
        read_sha256sums(path)
    assert str(info.value).startswith(f"{path}:2:1: not a sha256sum line")


def test_missing_sha256sums_file_and_missing_entry(tmp_path: Path) -> None:
    with pytest.raises(NotStaged, match=r"nope\.txt \(sha256sums\) is not there"):
        read_sha256sums(tmp_path / "nope.txt")
    (tmp_path / "unreadable.txt").mkdir()
    with pytest.raises(InputError, match="cannot read sha256sums"):
        read_sha256sums(tmp_path / "unreadable.txt")
    with pytest.raises(InputError, match=r"no entry for ollama-linux-arm64\.tgz \(it lists: ollama-linux-amd64\.tgz\)"):
        expected_digest({"ollama-linux-amd64.tgz": HEX_A}, "ollama-linux-arm64.tgz", "sums.txt")


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (1717986918, "1.6 GiB")])
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text
