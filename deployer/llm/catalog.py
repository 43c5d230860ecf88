"""The model catalogue: which Ollama tags exist, how big they are, and their shapes.

The shipped catalog.yaml holds the real tag sizes (bytes of the manifest's
layers) and the architecture numbers the KV cache depends on. Users add or
override families and tags with their own YAML files or a dict from playbook
vars; entries merge field by field, later sources win::

    catalog = load_catalog([Path("lab-models.yml"), {"families": {...}}])
    tag = catalog.resolve("deepseek-r1:14b")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deployer.errors import InputError, InputErrors, Location, did_you_mean
from deployer.yamlload import YDict, load_file, loads, locate

BASE_LABEL = "deployer/llm/catalog.yaml"

# Whole-file bytes per parameter (llama.cpp's table for Llama-3-8B) and the
# suffix Ollama uses for each quantization in a tag name.
QUANT_BPP: dict[str, float] = {
    "F16": 2.0,
    "Q8_0": 1.064,
    "Q6_K": 0.821,
    "Q5_K_M": 0.713,
    "Q4_K_M": 0.612,
    "Q4_0": 0.580,
    "Q3_K_M": 0.500,
    "Q2_K": 0.396,
}
_QUANT_SUFFIX = {"F16": "fp16", "Q8_0": "q8_0", "Q6_K": "q6_K", "Q5_K_M": "q5_K_M", "Q4_K_M": "q4_K_M",
                 "Q4_0": "q4_0", "Q3_K_M": "q3_K_M", "Q2_K": "q2_K"}
_QUANT_ALIASES = {"FP16": "F16", "BF16": "F16"}


def normalize_quant(name: str) -> str:
    """The canonical spelling of a quantization name ("q4_k_m" -> "Q4_K_M"); ValueError if unknown."""
    key = name.strip().upper()
    key = _QUANT_ALIASES.get(key, key)
    if key not in QUANT_BPP:
        hint = did_you_mean(key, list(QUANT_BPP))
        raise ValueError(f"unknown quantization '{name}'; known: {', '.join(QUANT_BPP)}" + (f" ({hint})" if hint else ""))
    return key


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arch(_Strict):
    """Architecture numbers from the model's config.json."""

    layers: int = Field(gt=0, description="num_hidden_layers")
    heads: int = Field(gt=0, description="num_attention_heads")
    kv_heads: int = Field(gt=0, description="num_key_value_heads")
    head_dim: int = Field(gt=0, description="per-head dimension")
    key_length: int | None = Field(None, gt=0, description="per-head key size when it differs from head_dim")
    value_length: int | None = Field(None, gt=0, description="per-head value size when it differs from head_dim")
    embedding: int = Field(gt=0, description="hidden_size")
    vocab: int = Field(gt=0, description="vocab_size")
    sliding_window: int | None = Field(None, gt=0, description="local attention window of the non-global layers")
    global_layers: int | None = Field(None, ge=0, description="layers attending to the whole context")

    @model_validator(mode="after")
    def _window(self) -> "Arch":
        if (self.sliding_window is None) != (self.global_layers is None):
            raise ValueError("give sliding_window and global_layers together")
        if self.global_layers is not None and self.global_layers > self.layers:
            raise ValueError(f"global_layers {self.global_layers} is more than layers {self.layers}")
        return self


class MoE(_Strict):
    """Mixture of experts: all parameters are stored, only the active ones are read per token."""

    total_b: float = Field(gt=0)
    active_b: float = Field(gt=0)

    @model_validator(mode="after")
    def _active(self) -> "MoE":
        if self.active_b > self.total_b:
            raise ValueError(f"active_b {self.active_b} is more than total_b {self.total_b}")
        return self


class TagSpec(_Strict):
    """One tag of a family as the catalogue file describes it."""

    base: str | None = Field(None, description="the upstream model it was built from")
    params_b: float = Field(gt=0, description="parameters, billions")
    quantization: str = Field("Q4_K_M", description="the tag's default quantization")
    size_bytes: int = Field(gt=0, description="download size: the sum of the manifest's layers")
    size_exact: bool = Field(False, description="false when only the rounded library-page size is known")
    context_max: int = Field(gt=0, description="trained context length")
    arch: Arch
    moe: MoE | None = None
    quant_tag: str | None = Field(None, description="tag name pattern for other quantizations, with {quant}")

    @field_validator("quantization")
    @classmethod
    def _quant(cls, v: str) -> str:
        return normalize_quant(v)


class FamilySpec(_Strict):
    """A model family: its tags and the `latest` alias."""

    description: str | None = None
    latest: str | None = Field(None, description="the tag `latest` (and the bare family name) points to")
    quant_tag: str | None = Field(None, description="tag name pattern for other quantizations: {tag}, {quant}")
    tags: dict[str, TagSpec]

    @model_validator(mode="after")
    def _latest(self) -> "FamilySpec":
        if self.latest is not None and self.latest not in self.tags:
            raise ValueError(f"latest '{self.latest}' is not one of the tags: {', '.join(self.tags)}")
        return self


@dataclass(frozen=True)
class ModelTag:
    """One pullable Ollama tag, e.g. deepseek-r1:14b."""

    family: str
    tag: str
    spec: TagSpec
    family_quant_tag: str | None = None

    @property
    def name(self) -> str:
        """The Ollama name, e.g. 'deepseek-r1:14b'."""
        return f"{self.family}:{self.tag}"

    @property
    def arch(self) -> Arch:
        return self.spec.arch

    @property
    def quantization(self) -> str:
        return self.spec.quantization

    @property
    def params(self) -> float:
        """Parameter count."""
        return self.spec.params_b * 1e9

    @property
    def active_fraction(self) -> float:
        """Share of the weights read for each token (1.0 for dense models)."""
        moe = self.spec.moe
        return moe.active_b / moe.total_b if moe else 1.0

    def size_for(self, quant: str) -> int:
        """File size in another quantization, scaled from the real size by bytes per parameter."""
        q = normalize_quant(quant)
        return round(self.spec.size_bytes * QUANT_BPP[q] / QUANT_BPP[self.quantization])

    def pull_name(self, quant: str) -> str | None:
        """The Ollama name of this size in `quant`, or None when the catalogue does not know it."""
        q = normalize_quant(quant)
        if q == self.quantization:
            return self.name
        pattern = self.spec.quant_tag or (
            self.family_quant_tag.replace("{tag}", self.tag) if self.family_quant_tag else None
        )
        return f"{self.family}:{pattern.format(quant=_QUANT_SUFFIX[q])}" if pattern else None


@dataclass(frozen=True)
class Family:
    """A model family with its tags, smallest first."""

    name: str
    tags: dict[str, ModelTag]
    latest: str | None = None
    description: str | None = None

    def ordered(self) -> list[ModelTag]:
        """Tags by parameter count, smallest first."""
        return sorted(self.tags.values(), key=lambda t: (t.spec.params_b, t.spec.size_bytes))


@dataclass(frozen=True)
class Catalog:
    """Every family deployer can size."""

    families: dict[str, Family] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Every 'family:tag' name."""
        return [t.name for f in self.families.values() for t in f.ordered()]

    def family(self, name: str) -> Family:
        """The family called `name`; InputError naming the known ones otherwise."""
        base = name.split(":", 1)[0]
        if base in self.families:
            return self.families[base]
        known = f"known models: {', '.join(sorted(self.families))}"
        close = did_you_mean(base, list(self.families))
        hint = f"{close} {known}" if close else f"{known}; add others in a catalogue file"
        raise InputError(f"unknown model '{base}'", hint=hint)

    def resolve(self, name: str, tag: str | None = None) -> ModelTag:
        """The tag for 'family:tag', 'family' (its latest) or ('family', 'tag')."""
        fam = self.family(name)
        if ":" in name:
            tag = name.split(":", 1)[1]
        if tag in (None, "", "latest"):
            if fam.latest is None:
                raise InputError(f"model '{fam.name}' has no 'latest' tag", hint=f"name one of: {', '.join(fam.tags)}")
            tag = fam.latest
        if tag in fam.tags:
            return fam.tags[tag]
        known = [t.tag for t in fam.ordered()]
        close = did_you_mean(tag, known)
        listing = f"known tags of {fam.name}: {', '.join(known)}"
        raise InputError(f"unknown tag '{fam.name}:{tag}'", hint=f"{close} {listing}" if close else listing)


@dataclass
class _Source:
    label: str
    data: Any


def load_catalog(extra: Sequence[Path | str | Mapping[str, Any]] = ()) -> Catalog:
    """The shipped catalogue merged with `extra` sources (YAML paths or dicts), later winning.

    A source has one key, ``families``; a family or tag it names that already
    exists is merged field by field, a new one must be complete. Errors carry the
    position in the source that introduced the bad value.
    """
    base = resources.files("deployer.llm").joinpath("catalog.yaml").read_text(encoding="utf-8")
    sources = [_Source(BASE_LABEL, loads(base, BASE_LABEL))]
    for i, item in enumerate(extra):
        if isinstance(item, Mapping):
            sources.append(_Source(f"<catalogue vars #{i + 1}>", item))
        else:
            sources.append(_Source(str(item), load_file(item)))
    merged: dict[str, dict[str, Any]] = {}
    touched: dict[tuple[str, ...], list[_Source]] = {}
    for src in sources:
        for fname, fam in _families_of(src).items():
            into = merged.setdefault(fname, {"tags": {}})
            touched.setdefault((fname,), []).append(src)
            for key, value in fam.items():
                if key != "tags" or not isinstance(value, Mapping):
                    into[key] = value
                    continue
                for tname, tvalue in value.items():
                    touched.setdefault((fname, str(tname)), []).append(src)
                    if isinstance(tvalue, Mapping) and isinstance(into["tags"].get(tname), dict):
                        _deep_merge(into["tags"][tname], tvalue)
                    else:
                        into["tags"][tname] = _plain(tvalue)
    families: dict[str, Family] = {}
    errors: list[InputError] = []
    for fname, raw in merged.items():
        try:
            spec = FamilySpec.model_validate(raw)
        except ValidationError as exc:
            errors.extend(_located(fname, exc, touched))
            continue
        tags = {t: ModelTag(fname, t, s, spec.quant_tag) for t, s in spec.tags.items()}
        families[fname] = Family(fname, tags, spec.latest, spec.description)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return Catalog(families)


def _families_of(src: _Source) -> Mapping[str, Mapping[str, Any]]:
    data = src.data
    where = getattr(data, "loc", None) or Location(src.label)
    if not isinstance(data, Mapping) or set(data) != {"families"}:
        keys = ", ".join(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
        raise InputError(
            f"a catalogue needs exactly one top-level key 'families', found: {keys or 'nothing'}",
            where,
            "write 'families: {<model>: {tags: {<tag>: {...}}}}'",
        )
    fams = data["families"]
    if not isinstance(fams, Mapping) or not all(isinstance(f, Mapping) for f in fams.values()):
        raise InputError("'families' must map model names to mappings", locate(data, ["families"], where))
    return fams


def _deep_merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _depth(data: Any, path: Sequence[Any]) -> int:
    depth = 0
    for part in path:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            break
        depth += 1
    return depth


def _located(fname: str, exc: ValidationError, touched: dict[tuple[str, ...], list[_Source]]) -> list[InputError]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ("families", fname, *loc)
        key = (fname, str(loc[1])) if len(loc) > 1 and loc[0] == "tags" else (fname,)
        candidates = touched.get(key) or touched.get((fname,), [])
        src = max(reversed(candidates), key=lambda s: _depth(s.data, path))
        where = locate(src.data, path, Location(src.label)) if isinstance(src.data, YDict) else Location(src.label)
        dotted = ".".join(str(p) for p in path[1:])
        msg = err["msg"].removeprefix("Value error, ")
        hint = None
        if err["type"] == "extra_forbidden":
            fields = _fields_for(loc)
            hint = did_you_mean(str(loc[-1]), fields) or f"allowed keys: {', '.join(fields)}"
        elif err["type"] == "missing":
            hint = "a new tag needs params_b, size_bytes, context_max and arch (layers, heads, kv_heads, head_dim, embedding, vocab)"
        out.append(InputError(f"catalogue {dotted}: {msg}", where, hint))
    return out


def _fields_for(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = FamilySpec
    if len(loc) >= 3 and loc[0] == "tags":
        model = TagSpec
        if len(loc) >= 4 and loc[2] in ("arch", "moe"):
            model = Arch if loc[2] == "arch" else MoE
    return list(model.model_fields)
