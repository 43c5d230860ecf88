"""The stand-in's CLI: what `ollama ...` prints, where, and with which exit status."""

from __future__ import annotations

import re

from tests.fakes.models import make_gguf, make_model, model_size


def test_version_with_and_without_server(make_standin):
    down = make_standin(start=False)
    result = down.cli("-v")
    assert result.returncode == 0
    assert result.stdout == ("Warning: could not connect to a running Ollama instance\n"
                             "Warning: client version is 0.5.7\n")
    up = make_standin(FAKE_OLLAMA_VERSION="0.5.7")
    assert up.cli("--version").stdout == "ollama version is 0.5.7\n"
    newer = up.cli("-v", FAKE_OLLAMA_VERSION="0.6.0")  # upgraded binary, old server still running
    assert newer.stdout == "ollama version is 0.5.7\nWarning: client version is 0.6.0\n"


def test_verbs_need_a_server(make_standin):
    down = make_standin(start=False)
    for verb in (["list"], ["pull", "x"], ["ps"], ["run", "x", "hi"]):
        result = down.cli(*verb)
        assert result.returncode == 1
        assert result.stderr == "Error: could not connect to ollama server, run 'ollama serve' to start it\n"
    assert down.cli("pull").stderr == "Error: accepts 1 arg(s), received 0\n"
    assert down.cli("frob").stderr.startswith('Error: unknown command "frob" for "ollama"')


def test_pull_list_and_rm(make_standin, registry):
    make_model(registry.root, "deepseek-r1:7b", gguf_size=1_500_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    pulled = s.cli("pull", "deepseek-r1:7b")
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stderr.splitlines()[0] == "pulling manifest"
    assert pulled.stderr.splitlines()[-1] == "success"
    listing = s.cli("list").stdout.splitlines()
    assert re.fullmatch(r"NAME {14}ID {14}SIZE {6}MODIFIED {15}", listing[0])
    assert re.fullmatch(r"deepseek-r1:7b    [0-9a-f]{12}    1\.5 MB    Less than a second ago    ", listing[1])
    assert s.cli("ls", "deep").stdout.splitlines()[1:] == listing[1:]
    assert s.cli("rm", "deepseek-r1:7b").stdout == "deleted 'deepseek-r1:7b'\n"
    assert s.cli("list").stdout == "NAME    ID    SIZE    MODIFIED \n"
    gone = s.cli("rm", "deepseek-r1:7b")
    assert (gone.returncode, gone.stderr) == (1, "Error: model 'deepseek-r1:7b' not found\n")


def test_pull_failure_prints_the_error(make_standin, registry):
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_DIAL_TIMEOUT="0.3")
    registry.set_mode("blackhole")
    result = s.cli("pull", "deepseek-r1:1.5b")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        'Error: pull model manifest: Get "https://registry.ollama.ai/v2/library/deepseek-r1/manifests/1.5b": '
        f"dial tcp 127.0.0.1:{registry.port}: i/o timeout")


def test_run_verbose_prints_answer_and_eval_rate(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_TOKENS_PER_SECOND="80",
                     FAKE_OLLAMA_RESPONSE_TOKENS="24")
    result = s.cli("run", "tiny:1b", "Why is the sky blue?", "--verbose")  # pulls it first
    assert result.returncode == 0, result.stderr
    answer = result.stdout
    assert answer.endswith(".\n\n") and len(answer.split()) == 24
    stats = dict(line.split(":", 1) for line in result.stderr.splitlines() if ":" in line)
    assert stats["eval count"].strip() == "24 token(s)"
    rate = float(re.fullmatch(r"\s*([\d.]+) tokens/s", stats["eval rate"]).group(1))
    assert 70 <= rate <= 81
    assert re.fullmatch(r"\s*[\d.]+(ms|s)", stats["total duration"])
    quiet = s.cli("run", "tiny:1b", stdin="Why?")
    assert quiet.returncode == 0 and "eval rate" not in quiet.stderr and quiet.stdout.endswith("\n\n")


def test_ps_processor_column(make_standin, registry):
    manifest = make_model(registry.root, "tiny:1b", gguf_size=100_000)
    size = model_size(manifest)
    cases = {"0": "100% CPU", str(size): "100% GPU", str(size * 52 // 100): "48%/52% CPU/GPU"}
    for vram, expected in cases.items():
        s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_VRAM_BYTES=vram)
        s.cli("pull", "tiny:1b")
        s.api("POST", "/api/generate", {"model": "tiny:1b"})  # preload
        lines = s.cli("ps").stdout.splitlines()
        assert lines[0].split() == ["NAME", "ID", "SIZE", "PROCESSOR", "UNTIL"]
        assert expected in lines[1] and "4 minutes from now" in lines[1]
        assert s.cli("stop", "tiny:1b").returncode == 0
        assert len(s.cli("ps").stdout.splitlines()) == 1
    s = make_standin(FAKE_OLLAMA_VERSION="0.12.0")
    assert s.cli("ps").stdout.split() == ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]
    assert s.cli("stop", "nope").stderr == 'Error: couldn\'t find model "nope" to stop\n'


def test_create_from_modelfile_and_show(make_standin, tmp_path):
    s = make_standin()
    make_gguf(tmp_path / "w" / "qwen.gguf", size=30_000, params="494M", quant="Q4_0", family="qwen2",
              context_length=32768, embedding_length=896)
    (tmp_path / "w" / "Modelfile").write_text('FROM ./qwen.gguf\nPARAMETER num_ctx 8192\n'
                                              'SYSTEM """Answer in one line."""\n')
    result = s.cli("create", "local:0.5b", "-f", str(tmp_path / "w" / "Modelfile"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "success"
    shown = s.cli("show", "local:0.5b").stdout
    assert "  Model\n    architecture        qwen2    \n" in shown
    assert "parameters          494M" in shown and "context length      32768" in shown
    assert "quantization        Q4_0" in shown and "num_ctx    8192" in shown
    assert s.cli("show", "local:0.5b", "--system").stdout == "Answer in one line."
    missing = s.cli("create", "x", "-f", str(tmp_path / "nope"))
    assert missing.stderr == "Error: specified Modelfile wasn't found\n"
    assert s.cli("cp", "local:0.5b", "other").stdout == "copied 'local:0.5b' to 'other'\n"
