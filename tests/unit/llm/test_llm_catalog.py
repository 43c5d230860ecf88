"""The shipped catalogue against shared/reference/sizing.md, and user overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deployer.errors import InputError
from deployer.llm.catalog import QUANT_BPP, load_catalog, normalize_quant

GB = 1e9


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_deepseek_r1_exact_sizes_from_sizing_md(catalog):
    assert catalog.resolve("deepseek-r1:7b").spec.size_bytes == 4_683_075_271
    assert catalog.resolve("deepseek-r1:70b").spec.size_bytes == 42_520_397_704
    assert catalog.resolve("deepseek-r1:7b").spec.size_exact
    assert catalog.resolve("deepseek-r1:70b").spec.size_exact


@pytest.mark.parametrize(
    "name, low_gb, high_gb",
    [
        ("deepseek-r1:1.5b", 1.05, 1.15),  # 1.1 GB
        ("deepseek-r1:8b", 4.9, 5.25),  # ~4.9-5.2 GB
        ("deepseek-r1:14b", 8.95, 9.05),  # ~9.0 GB
        ("deepseek-r1:32b", 19.5, 20.5),  # ~20 GB
        ("deepseek-r1:671b", 400, 408),  # 404 GB
        ("qwen2.5:1.5b", 0.98, 0.99),  # 986 MB
        ("qwen2.5:3b", 1.85, 1.95),  # 1.9 GB
        ("llama3.2:1b", 1.25, 1.35),  # 1.3 GB
        ("llama3.2:3b", 1.95, 2.05),  # 2.0 GB
        ("llama3.3:70b", 42.5, 43.5),  # 43 GB
    ],
)
def test_sizes_match_the_table_of_sizing_md(catalog, name, low_gb, high_gb):
    assert low_gb <= catalog.resolve(name).spec.size_bytes / GB <= high_gb


def test_q4_k_m_tags_come_to_about_0_6_bytes_per_parameter(catalog):
    # sizing.md: 0.60-0.62; small models carry a larger share of embeddings, and
    # gemma3 downloads include the vision tower, so only text models of 7B and more.
    for fam in catalog.families.values():
        for tag in fam.tags.values():
            if tag.quantization == "Q4_K_M" and tag.spec.params_b >= 7 and fam.name != "gemma3":
                assert 0.59 <= tag.spec.size_bytes / tag.params <= 0.65, tag.name


def test_other_quantizations_scale_from_the_real_size(catalog):
    tag = catalog.resolve("deepseek-r1:7b")
    # Ollama's deepseek-r1:7b-qwen-distill-q8_0 is 8.1 GB, -fp16 15 GB.
    assert tag.size_for("q8_0") / GB == pytest.approx(8.14, abs=0.05)
    assert tag.size_for("fp16") / GB == pytest.approx(15.3, abs=0.1)
    assert tag.size_for("Q4_K_M") == tag.spec.size_bytes
    assert tag.pull_name("q8_0") == "deepseek-r1:7b-qwen-distill-q8_0"
    assert tag.pull_name("Q4_K_M") == "deepseek-r1:7b"
    assert catalog.resolve("qwen2.5:14b").pull_name("fp16") == "qwen2.5:14b-instruct-fp16"
    # A Q8_0 tag scaled down to Q4_K_M shrinks by the table's ratio.
    small = catalog.resolve("llama3.2:1b")
    assert small.size_for("Q4_K_M") == round(small.spec.size_bytes * QUANT_BPP["Q4_K_M"] / QUANT_BPP["Q8_0"])


def test_quantization_names_normalise_and_unknown_ones_fail():
    assert normalize_quant("q4_k_m") == "Q4_K_M"
    assert normalize_quant("fp16") == "F16"
    with pytest.raises(ValueError, match="unknown quantization 'q9_9'"):
        normalize_quant("q9_9")


def test_latest_and_bare_names(catalog):
    assert catalog.resolve("deepseek-r1").tag == catalog.families["deepseek-r1"].latest
    assert catalog.resolve("deepseek-r1:latest") == catalog.resolve("deepseek-r1")
    assert catalog.resolve("qwen2.5").name == "qwen2.5:7b"
    for fam in catalog.families.values():
        assert fam.latest in fam.tags, fam.name


def test_every_tag_has_consistent_architecture(catalog):
    for fam in catalog.families.values():
        for tag in fam.tags.values():
            arch = tag.arch
            assert arch.heads % arch.kv_heads == 0, tag.name
            assert tag.spec.context_max >= 8192, tag.name


def test_unknown_tag_names_the_known_ones(catalog):
    with pytest.raises(InputError) as err:
        catalog.resolve("deepseek-r1:13b")
    text = str(err.value)
    assert "unknown tag 'deepseek-r1:13b'" in text
    assert "14b" in text


def test_unknown_model_suggests_the_closest(catalog):
    with pytest.raises(InputError, match="unknown model 'deepseek-r'.*did you mean 'deepseek-r1'"):
        catalog.resolve("deepseek-r")
    with pytest.raises(InputError, match="known models: .*qwen3"):
        catalog.resolve("zzz")


ARCH = "{layers: 32, heads: 32, kv_heads: 8, head_dim: 128, embedding: 4096, vocab: 128256}"


def test_a_yaml_file_overrides_fields_and_adds_tags_and_families(tmp_path: Path):
    extra = tmp_path / "lab.yml"
    extra.write_text(
        "families:\n"
        "  deepseek-r1:\n"
        "    latest: 7b\n"
        "    tags:\n"
        "      14b: {size_bytes: 9000000000}\n"
        "      7b-q8: {params_b: 7.62, quantization: Q8_0, size_bytes: 8098525888, context_max: 131072,\n"
        f"              arch: {ARCH}}}\n"
        "  labmodel:\n"
        "    latest: 8b\n"
        f"    tags: {{8b: {{params_b: 8, size_bytes: 5000000000, context_max: 8192, arch: {ARCH}}}}}\n"
    )
    cat = load_catalog([extra])
    assert cat.resolve("deepseek-r1:14b").spec.size_bytes == 9_000_000_000
    assert cat.resolve("deepseek-r1:14b").arch.layers == 48  # untouched fields kept
    assert cat.resolve("deepseek-r1").tag == "7b"
    assert cat.resolve("deepseek-r1:7b-q8").quantization == "Q8_0"
    assert cat.resolve("labmodel").spec.context_max == 8192
    assert load_catalog().resolve("deepseek-r1:14b").spec.size_bytes == 8_988_112_040  # shipped one unchanged


def test_a_dict_from_playbook_vars_overrides_too():
    cat = load_catalog([{"families": {"qwen3": {"tags": {"8b": {"context_max": 32768}}}}}])
    assert cat.resolve("qwen3:8b").spec.context_max == 32768


def test_later_sources_win():
    a = {"families": {"phi4": {"tags": {"14b": {"size_bytes": 1}}}}}
    b = {"families": {"phi4": {"tags": {"14b": {"size_bytes": 2}}}}}
    assert load_catalog([a, b]).resolve("phi4:14b").spec.size_bytes == 2


def test_a_misspelt_key_is_reported_at_its_line_with_a_hint(tmp_path: Path):
    extra = tmp_path / "bad.yml"
    extra.write_text("families:\n  qwen3:\n    tags:\n      8b:\n        size_byte: 5\n")
    with pytest.raises(InputError) as err:
        load_catalog([extra])
    text = str(err.value)
    assert re.search(rf"{re.escape(str(extra))}:5:9: catalogue qwen3\.tags\.8b\.size_byte", text), text
    assert "did you mean 'size_bytes'" in text


def test_a_new_incomplete_tag_says_what_is_missing(tmp_path: Path):
    extra = tmp_path / "new.yml"
    extra.write_text("families:\n  qwen3:\n    tags:\n      99b:\n        params_b: 99\n")
    with pytest.raises(InputError) as err:
        load_catalog([extra])
    text = str(err.value)
    assert f"{extra}:5:9: catalogue qwen3.tags.99b.size_bytes: Field required" in text


def test_bad_values_are_located(tmp_path: Path):
    extra = tmp_path / "bad.yml"
    extra.write_text("families:\n  qwen3:\n    tags:\n      8b: {quantization: Q9_9}\n")
    with pytest.raises(InputError, match=rf"{re.escape(str(extra))}:4:12: .*unknown quantization 'Q9_9'"):
        load_catalog([extra])
    extra.write_text("families:\n  qwen3:\n    latest: 99b\n")
    with pytest.raises(InputError, match="latest '99b' is not one of the tags"):
        load_catalog([extra])


def test_a_catalogue_needs_the_families_key(tmp_path: Path):
    extra = tmp_path / "flat.yml"
    extra.write_text("qwen3:\n  tags: {}\n")
    with pytest.raises(InputError, match=r"flat\.yml:1:1: a catalogue needs exactly one top-level key 'families'"):
        load_catalog([extra])


def test_a_missing_catalogue_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="file not found"):
        load_catalog([tmp_path / "nope.yml"])
