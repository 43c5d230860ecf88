"""The play's verify: key: one "Benchmark <model>" task per models: entry; errors at their position."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deployer import playbook
from deployer.errors import InputError, InputErrors, Location
from deployer.modules.llm_benchmark import expand_verify
from tests.fleet.deployer_cli import run_deployer

WHERE = Location("pb.yml", 5, 3)


def test_one_task_per_models_entry_with_the_endpoint_from_the_ollama_key() -> None:
    play = {"ollama": {"version": "0.5.7", "listen": "0.0.0.0:11500"},
            "models": [{"name": "deepseek-r1", "size": "auto"}, {"name": "qwen2.5", "size": "1.5b"}, "llama3.1:8b"]}
    tasks = expand_verify({"runs": 5, "min_tokens_per_second": 8}, play, WHERE)
    assert [t["name"] for t in tasks] == ["Benchmark deepseek-r1", "Benchmark qwen2.5", "Benchmark llama3.1:8b"]
    assert tasks[0]["llm_benchmark"] == {"runs": 5, "min_tokens_per_second": 8, "endpoint": "0.0.0.0:11500", "model": "deepseek-r1"}
    assert tasks[0]["tags"] == ["verify"]


def test_model_names_one_and_endpoint_wins_over_the_ollama_key() -> None:
    play = {"ollama": {"listen": "127.0.0.1:11434"}, "models": [{"name": "deepseek-r1"}]}
    tasks = expand_verify({"model": "qwen2.5:0.5b", "endpoint": "127.0.0.1:9999"}, play, WHERE)
    assert tasks == [{"name": "Benchmark qwen2.5:0.5b", "tags": ["verify"],
                      "llm_benchmark": {"endpoint": "127.0.0.1:9999", "model": "qwen2.5:0.5b"}}]
    assert expand_verify(True, {"models": [{"name": "m"}]}, WHERE)[0]["llm_benchmark"] == {"model": "m"}
    assert expand_verify(False, {"models": [{"name": "m"}]}, WHERE) == []


@pytest.mark.parametrize(("value", "play", "message"), [
    ({"runs": 3}, {}, "verify: has no model to benchmark"),
    ({"rnus": 3, "model": "m"}, {}, "verify: unknown key 'rnus'"),
    ({"runs": 0, "model": "m"}, {}, "verify: 'runs': Input should be greater than or equal to 1"),
    ({"max_slowdown": 2, "model": "m"}, {}, "verify: 'max_slowdown'"),
    ("fast", {}, "verify: must be a mapping"),
])
def test_bad_verify_values(value: object, play: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        expand_verify(value, play, WHERE)


def test_templated_values_are_checked_after_rendering() -> None:
    tasks = expand_verify({"runs": "{{ bench_runs }}", "model": "m"}, {}, WHERE)
    assert tasks[0]["llm_benchmark"]["runs"] == "{{ bench_runs }}"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pb.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_in_a_playbook_the_tasks_come_after_pre_tasks_and_before_tasks(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
        - hosts: all
          pre_tasks:
            - debug: {msg: first}
          verify:
            model: deepseek-r1:7b
            runs: 2
          tasks:
            - debug: {msg: last}
        """)
    play = playbook.load(path).plays[0]
    assert [(t.action, t.name, t.origin) for t in play.tasks] == [
        ("debug", "debug", None), ("llm_benchmark", "Benchmark deepseek-r1:7b", "verify"), ("debug", "debug", None)]
    listed = run_deployer(["run", str(path), "--list-tasks"])
    assert listed.rc == 0 and "Benchmark deepseek-r1:7b  (verify:)  TAGS: [verify]" in listed.stdout, listed


def test_a_wrong_key_is_reported_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
        - hosts: all
          verify:
            model: deepseek-r1:7b
            min_tokens_per_secnd: 5
        """)
    with pytest.raises((InputError, InputErrors)) as info:
        playbook.load(path)
    text = str(info.value)
    assert f"{path}:4:5: verify: unknown key 'min_tokens_per_secnd'" in text
    assert "did you mean 'min_tokens_per_second'?" in text
