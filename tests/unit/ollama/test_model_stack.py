"""The play's `models:` key: one task per entry, settings from `ollama:`, errors at their line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer import playbook, yamlload
from deployer.errors import InputError, InputErrors
from deployer.ollama.config import SYSTEM_MODELS_DIR, USER_MODELS_DIR
from deployer.ollama.models_stack import expand, host_args


def _expand(text: str, path: str = "/lab/site.yml") -> list[dict]:
    play = yamlload.loads(text, path)[0]
    return expand(play["models"], play, yamlload.key_location(play, "models"))


def _errors(text: str) -> list[str]:
    with pytest.raises(InputError) as exc:
        _expand(text)
    errs = exc.value.errors if isinstance(exc.value, InputErrors) else [exc.value]
    return [str(e) for e in errs]


def test_each_entry_becomes_one_named_task_with_the_system_defaults() -> None:
    tasks = _expand("""
- hosts: all
  models:
    - name: deepseek-r1
      max_size: 32b
      placement: gpu
      context: 8192
    - name: qwen2.5
      size: 0.5b
      source: bundle
    - llama3.2:1b
""")
    assert [t["name"] for t in tasks] == ["Model deepseek-r1 (auto)", "Model qwen2.5 (0.5b)", "Model llama3.2:1b (1b)"]
    first = tasks[0]["ollama_model"]
    assert first == {"endpoint": "127.0.0.1:11434", "models_dir": SYSTEM_MODELS_DIR, "service_user": "ollama",
                     "name": "deepseek-r1", "max_size": "32b", "placement": "gpu", "context": 8192}
    assert not any("become" in t for t in tasks)  # Ollama installed by other means: the play's become applies
    assert tasks[1]["ollama_model"]["source"] == "bundle"


def test_the_ollama_key_gives_endpoint_models_dir_owner_and_proxy() -> None:
    args, become = host_args({"version": "0.5.7", "listen": "127.0.0.1:11500", "models_dir": "/srv/ollama/models",
                              "service_user": "llm", "https_proxy": "http://proxy:3128"})
    assert args == {"endpoint": "127.0.0.1:11500", "models_dir": "/srv/ollama/models", "service_user": "llm",
                    "https_proxy": "http://proxy:3128"}
    assert become
    assert host_args(None) == ({"endpoint": "127.0.0.1:11434", "models_dir": SYSTEM_MODELS_DIR, "service_user": "ollama"}, False)
    args, become = host_args({"version": "0.5.7", "mode": "user"})
    assert args == {"endpoint": "127.0.0.1:11434", "models_dir": USER_MODELS_DIR, "service_user": None}
    assert not become
    tasks = _expand("""
- hosts: all
  ollama: {version: 0.5.7, mode: user, listen: "127.0.0.1:11600"}
  models: [{name: deepseek-r1, size: 7b}]
""")
    assert tasks[0]["ollama_model"]["endpoint"] == "127.0.0.1:11600" and "become" not in tasks[0]
    tasks = _expand("""
- hosts: all
  ollama: {version: 0.5.7, listen: "127.0.0.1:{{ port }}", models_dir: "{{ base }}/models"}
  models: [{name: deepseek-r1, size: 7b}]
""")
    assert tasks[0]["ollama_model"]["endpoint"] == "127.0.0.1:{{ port }}" and tasks[0]["become"] is True


def test_templated_values_wait_for_the_run() -> None:
    tasks = _expand("""
- hosts: all
  models:
    - name: "{{ model_family }}"
      context: "{{ ctx }}"
""")
    assert tasks[0]["ollama_model"]["context"] == "{{ ctx }}"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{name: deepseek-r1, sise: 7b}", "/lab/site.yml:4:27: models: unknown key 'sise' (did you mean 'size'?)"),
        ("{name: deepseek-r1, endpoint: '10.0.0.1:1'}", "/lab/site.yml:4:27: models: 'endpoint' is set by the play's `ollama:` key"),
        ("{name: deepseek-r1, placement: gpus}", "/lab/site.yml:4:27: models: 'placement': Input should be 'gpu'"),
        ("{name: deepseek-r2}", "/lab/site.yml:4:8: models: unknown model 'deepseek-r2' (did you mean 'deepseek-r1'?"),
        ("{name: deepseek-r1, context: 999999}", "/lab/site.yml:4:27: models: context 999999 is more than any deepseek-r1 tag supports"),
        ("{name: deepseek-r1, min_size: 70b, max_size: 7b}", "/lab/site.yml:4:7: model request : min_size 70b is larger than max_size 7b"),
        ("{name: deepseek-r1, state: absent}", "/lab/site.yml:4:7: models: state: absent needs the tag to remove"),
        ("{size: 7b}", "/lab/site.yml:4:7: models: an entry needs 'name:'"),
        ("{name: deepseek-r1:7b, size: 8b}", "/lab/site.yml:4:7: models: name 'deepseek-r1:7b' has a tag and size is '8b'"),
        ("{name: mymodel, modelfile: 'SYSTEM hi'}", "/lab/site.yml:4:7: models: modelfile goes with gguf"),
    ],
)
def test_bad_entries_are_reported_where_they_are(entry: str, expected: str) -> None:
    errs = _errors(f"""
- hosts: all
  models:
    - {entry}
""")
    assert any(e.startswith(expected) for e in errs), errs


def test_a_model_listed_twice_and_a_bad_list() -> None:
    errs = _errors("""
- hosts: all
  models:
    - name: deepseek-r1
    - name: deepseek-r1
      size: 7b
""")
    assert errs == ["/lab/site.yml:5:7: models: 'deepseek-r1' is listed twice (first at line 4) (merge the two entries)"]
    assert _errors("- hosts: all\n  models: deepseek-r1\n") == [
        "/lab/site.yml:2:3: 'models' must be a list of models (e.g. '- name: deepseek-r1' with 'size: auto')"]


def test_tags_outside_the_catalogue_and_imports_are_not_sized_statically(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text(
        "families:\n  tiny:\n    tags:\n      1m: {params_b: 0.001, size_bytes: 1000000, context_max: 8192,\n"
        "           arch: {layers: 2, heads: 2, kv_heads: 1, head_dim: 8, embedding: 16, vocab: 100}}\n")
    tasks = _expand("""
- hosts: all
  models:
    - {name: deepseek-r1, size: 7b-qwen-distill-q8_0}
    - {name: someones-model, size: v2}
    - {name: mine, gguf: files/mine.gguf, modelfile: "SYSTEM be brief"}
    - {name: tiny, catalog: lab.yml}
""", str(tmp_path / "site.yml"))
    assert [t["name"] for t in tasks] == ["Model deepseek-r1 (7b-qwen-distill-q8_0)", "Model someones-model (v2)",
                                          "Model mine (gguf)", "Model tiny (auto)"]


def test_the_models_key_is_a_stack_key_of_playbooks(tmp_path: Path) -> None:
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  models:\n    - name: deepseek-r1\n      size: 1.5b\n  tasks:\n    - debug: var=deployer_models\n")
    play = playbook.load(pb).plays[0]
    assert [(t.name, t.action, t.origin) for t in play.tasks] == [
        ("Model deepseek-r1 (1.5b)", "ollama_model", "models"), ("debug", "debug", None)]
    assert play.tasks[0].module.provides_vars == ("deployer_models",)


def test_models_run_after_ollama_and_before_frontend_and_verify() -> None:
    order = playbook.stack_keys()
    models = order.index("models")
    assert all(order.index(k) < models for k in ("ollama",) if k in order), order
    assert all(models < order.index(k) for k in ("frontend", "verify") if k in order), order
