"""Pure pieces of the stand-in: Go's formats, model names, OLLAMA_HOST parsing, GGUF metadata."""

from __future__ import annotations

import pytest

from tests.fakes.models import gguf_metadata, make_gguf, parameter_count
from tests.fakes.ollama_standin import config, gguf, goish, names


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (999, "999ns"), (1500, "1.5µs"), (12_345_000, "12.345ms"), (1_000_000_000, "1s"),
    (4_232_710_000, "4.23271s"), (60 * goish.SECOND, "1m0s"), (3723 * goish.SECOND + 500_000_000, "1h2m3.5s"),
])
def test_go_duration_strings(ns, text):
    assert goish.duration_string(ns) == text
    assert goish.parse_duration(text) == ns


@pytest.mark.parametrize("bad,message", [("5", 'time: missing unit in duration "5"'),
                                         ("1d", 'time: unknown unit "d" in duration "1d"'),
                                         ("x", 'time: invalid duration "x"')])
def test_go_duration_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        goish.parse_duration(bad)


@pytest.mark.parametrize("size,text", [(12, "12 B"), (4_683_073_184, "4.7 GB"), (934_000_000, "934 MB"),
                                       (1_000_000, "1 MB"), (1_500_000, "1.5 MB")])
def test_human_bytes(size, text):
    assert goish.human_bytes(size) == text


def test_human_number_and_parameter_counts_round_trip():
    for claim in ("7.6B", "1.8B", "70B", "494.03M"):
        assert goish.human_number(parameter_count(claim)) == claim


def test_go_json_escapes_like_go():
    assert goish.dumps({"a": "<|x|> & y"}) == '{"a":"\\u003c|x|\\u003e \\u0026 y"}'


def test_table_pads_like_tablewriter():
    assert goish.table(["NAME", "ID"], [["a:b", "123"]]) == "NAME    ID  \na:b     123    \n"


@pytest.mark.parametrize("text,shortest,path", [
    ("deepseek-r1:7b", "deepseek-r1:7b", "registry.ollama.ai/library/deepseek-r1/7b"),
    ("deepseek-r1", "deepseek-r1:latest", "registry.ollama.ai/library/deepseek-r1/latest"),
    ("me/m:q4", "me/m:q4", "registry.ollama.ai/me/m/q4"),
    ("10.200.0.1:5000/lab/m:1", "10.200.0.1:5000/lab/m:1", "10.200.0.1:5000/lab/m/1"),
])
def test_model_names(text, shortest, path):
    name = names.parse(text)
    assert name.valid and name.display_shortest() == shortest and str(name.filepath()) == path


@pytest.mark.parametrize("bad", ["", "bad name", "-x:1", "a/b.c/m:1"])
def test_invalid_model_names(bad):
    assert not names.parse(bad).valid


@pytest.mark.parametrize("value,base", [
    ("", "http://127.0.0.1:11434"), ("0.0.0.0", "http://0.0.0.0:11434"), (":8080", "http://:8080"),
    ("http://10.1.2.3:9999", "http://10.1.2.3:9999"), ("example.org", "http://example.org:11434"),
    ("[::1]:11500", "http://[::1]:11500"), ("https://h", "https://h:443"),
])
def test_ollama_host_parsing(monkeypatch, value, base):
    monkeypatch.setenv("OLLAMA_HOST", value)
    assert config.host().base == base


def test_knob_file_is_read_when_env_is_silent(monkeypatch, tmp_path):
    knobs = tmp_path / "fake-ollama.env"
    knobs.write_text("# comment\nFAKE_OLLAMA_TOKENS_PER_SECOND=12.5\n")
    monkeypatch.setenv("FAKE_OLLAMA_ENV_FILE", str(knobs))
    monkeypatch.delenv("FAKE_OLLAMA_TOKENS_PER_SECOND", raising=False)
    assert config.knob_float("FAKE_OLLAMA_TOKENS_PER_SECOND", 50) == 12.5
    monkeypatch.setenv("FAKE_OLLAMA_TOKENS_PER_SECOND", "3")
    assert config.knob_float("FAKE_OLLAMA_TOKENS_PER_SECOND", 50) == 3


def test_gguf_is_valid_and_exactly_sized(tmp_path):
    path = tmp_path / "m.gguf"
    make_gguf(path, size=10_000, params="7.6B", quant="Q4_K_M", family="qwen2")
    raw = path.read_bytes()
    assert len(raw) == 10_000 and raw[:4] == b"GGUF" and raw[4:8] == (3).to_bytes(4, "little")
    meta = gguf.read_metadata(path)
    assert meta == gguf_metadata("7.6B", "Q4_K_M", "qwen2")
    assert gguf.file_type_name(meta["general.file_type"]) == "Q4_K_M"
    with pytest.raises(ValueError, match="too small"):
        make_gguf(tmp_path / "small.gguf", size=100)
