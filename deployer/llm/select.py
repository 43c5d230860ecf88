"""Choosing the model for a host: ``size: auto`` and friends, with a reason a person can check.

    decision = select(facts, Request(model="deepseek-r1", max_size="32b"), load_catalog())
    decision.reason
    # 'RTX 4090 24 GiB: deepseek-r1:14b needs 8.4 + 1.5 KV + 1.1 = 11.0 GiB -> all on GPU, ~81 tok/s'

A request that cannot be met on a host ("does not fit", "no GPU") is a
Decision with ok=False, so other hosts still get their answer; a request that is
wrong everywhere (unknown model, context above the model's maximum) raises
InputError before any host is looked at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deployer.errors import InputError, Location, did_you_mean
from deployer.facts.model import HostFacts
from deployer.llm.catalog import Catalog, ModelTag, normalize_quant
from deployer.llm.explain import describe, fmt_tps
from deployer.llm.hardware import GIB, enrich
from deployer.llm.sizing import PRECISION_RULE, Headroom, MemoryPlan, SizingOptions, plan_memory, usable_gpus, weights_for
from deployer.llm.speed import DEFAULT_SPEED, SpeedModel, load_seconds, predict_speed
from deployer.yamlload import locate

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([mb])$", re.IGNORECASE)


class HeadroomSpec(BaseModel):
    """Memory left free in each pool: `fraction` of it, at most `max_gib`."""

    model_config = ConfigDict(extra="forbid")
    fraction: float = Field(0.10, ge=0, lt=1)
    max_gib: float = Field(1.0, ge=0)


class Request(BaseModel):
    """What a play asks for on each host (the `models:` entry of the playbook)."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="family ('deepseek-r1') or tag ('deepseek-r1:14b')")
    size: str = Field("auto", description="'auto' = the largest tag that fits; or a tag such as '7b'")
    max_size: str | None = Field(None, description="upper bound for auto, e.g. '32b'")
    min_size: str | None = Field(None, description="lower bound for auto, e.g. '7b'")
    placement: Literal["gpu", "gpu_or_spill", "cpu"] | None = Field(
        None, description="gpu | gpu_or_spill | cpu; unset: gpu on hosts with a GPU, cpu elsewhere"
    )
    context: int = Field(8192, gt=0, description="context length to size the KV cache for (OLLAMA_CONTEXT_LENGTH)")
    num_parallel: int = Field(1, gt=0, description="OLLAMA_NUM_PARALLEL")
    kv_cache_type: Literal["f16", "q8_0", "q4_0"] = "f16"
    precision: str = Field("tag", description="tag | q8_0 | fp16 | any quantization | rule_2bpp (2 bytes/param)")
    min_tokens_per_second: float | None = Field(None, gt=0)
    headroom: HeadroomSpec = Field(default_factory=HeadroomSpec)
    flash_attention: bool | None = None
    disk_read_gbs: float | None = Field(None, gt=0, description="for the load-time estimate; default 1 GB/s")

    @field_validator("max_size", "min_size")
    @classmethod
    def _size_bound(cls, v: str | None) -> str | None:
        if v is not None and not _SIZE.match(v):
            raise ValueError(f"'{v}' is not a size like '32b' or '270m'")
        return v

    @field_validator("precision")
    @classmethod
    def _precision(cls, v: str) -> str:
        return v if v in ("tag", PRECISION_RULE) else normalize_quant(v)

    @model_validator(mode="after")
    def _bounds(self) -> "Request":
        if self.min_size and self.max_size and _nominal(self.min_size) > _nominal(self.max_size):
            raise ValueError(f"min_size {self.min_size} is larger than max_size {self.max_size}")
        return self


def parse_request(data: Mapping[str, Any], where: Location | None = None) -> Request:
    """A Request from playbook data; errors point at the offending key."""
    try:
        return Request.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = locate(data, err["loc"], where)
        hint = did_you_mean(str(err["loc"][-1]), list(Request.model_fields)) if err["type"] == "extra_forbidden" else None
        key = ".".join(str(p) for p in err["loc"])
        raise InputError(f"model request {key}: {err['msg'].removeprefix('Value error, ')}", loc, hint) from None


@dataclass(frozen=True)
class Candidate:
    """One tag that was considered, and why it was (not) chosen."""

    model: str
    ok: bool
    placement: str
    total_gib: float
    tokens_per_second: float | None
    reason: str


@dataclass
class Decision:
    """The answer for one host and one request."""

    host: str
    ok: bool
    request: str
    reason: str
    model: str | None = None
    quantization: str | None = None
    pull: str | None = None
    placement: str = "none"
    gpus: list[int] = field(default_factory=list)
    cpu_share: float = 0.0
    memory: dict[str, Any] = field(default_factory=dict)
    tokens_per_second: float | None = None
    load_seconds: float | None = None
    context: int = 0
    num_parallel: int = 1
    kv_cache_type: str = "f16"
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def memory_gib(self) -> float | None:
        return self.memory.get("total_gib")

    def to_json(self) -> dict[str, Any]:
        """Plain data for `deployer recommend --json`."""
        return {
            "host": self.host, "ok": self.ok, "request": self.request, "model": self.model,
            "quantization": self.quantization, "pull": self.pull, "placement": self.placement,
            "gpus": self.gpus, "cpu_share": round(self.cpu_share, 3), "memory_gib": self.memory_gib,
            "memory": self.memory,
            "tokens_per_second": None if self.tokens_per_second is None else round(self.tokens_per_second, 1),
            "load_seconds": None if self.load_seconds is None else round(self.load_seconds, 1),
            "context": self.context, "num_parallel": self.num_parallel, "kv_cache_type": self.kv_cache_type,
            "reason": self.reason,
            "candidates": [c.__dict__ | {"tokens_per_second": None if c.tokens_per_second is None
                                         else round(c.tokens_per_second, 1)} for c in self.candidates],
        }


def _nominal(size: str) -> float:
    m = _SIZE.match(size)
    assert m, size
    return float(m.group(1)) * (1e-3 if m.group(2).lower() == "m" else 1.0)


def _tag_nominal(tag: ModelTag) -> float:
    return _nominal(tag.tag) if _SIZE.match(tag.tag) else tag.spec.params_b


def candidates_for(request: Request, catalog: Catalog) -> list[ModelTag]:
    """The tags a request may pick from, largest first; InputError when the request is wrong everywhere."""
    family = catalog.family(request.model)
    named = request.model.split(":", 1)[1] if ":" in request.model else None
    if named and request.size not in ("auto", named):
        raise InputError(f"model '{request.model}' names a tag and size is '{request.size}'", hint="give one of them")
    if named or request.size != "auto":
        tag = catalog.resolve(family.name, named or request.size)
        if request.context > tag.spec.context_max:
            raise InputError(
                f"context {request.context} is more than {tag.name} supports ({tag.spec.context_max})",
                hint=f"use context <= {tag.spec.context_max}",
            )
        return [tag]
    tags = [
        t for t in reversed(family.ordered())
        if (request.max_size is None or _tag_nominal(t) <= _nominal(request.max_size))
        and (request.min_size is None or _tag_nominal(t) >= _nominal(request.min_size))
    ]
    if not tags:
        sizes = ", ".join(t.tag for t in family.ordered())
        raise InputError(f"no {family.name} tag between min_size and max_size", hint=f"tags: {sizes}")
    if all(request.context > t.spec.context_max for t in tags):
        most = max(t.spec.context_max for t in tags)
        raise InputError(f"context {request.context} is more than any {family.name} tag supports ({most})",
                         hint=f"use context <= {most}")
    return tags


def select(
    facts: HostFacts, request: Request, catalog: Catalog, speed: SpeedModel = DEFAULT_SPEED
) -> Decision:
    """The tag to run on a host for a request, where it goes, how fast, and why."""
    tags = candidates_for(request, catalog)
    facts = enrich(facts)
    policy = request.placement or ("gpu" if usable_gpus(facts) else "cpu")
    opts = SizingOptions(
        context=request.context, num_parallel=request.num_parallel, kv_cache_type=request.kv_cache_type,
        precision=request.precision, placement=policy,
        headroom=Headroom(request.headroom.fraction, request.headroom.max_gib),
        flash_attention=request.flash_attention,
    )
    common = dict(host=facts.hostname, request=request.model if request.size == "auto" else
                  f"{request.model}:{request.size}", context=request.context,
                  num_parallel=request.num_parallel, kv_cache_type=request.kv_cache_type)
    seen: list[Candidate] = []
    for tag in tags:
        decision = _evaluate(tag, facts, request, opts, speed, common)
        seen.append(Candidate(tag.name, decision.ok, decision.placement, decision.memory.get("total_gib", 0.0),
                              decision.tokens_per_second, decision.reason))
        if decision.ok:
            decision.candidates = seen
            return decision
    last = decision
    if len(tags) > 1:
        smallest = tags[-1].name
        last.reason = f"nothing fits (placement {policy}): smallest candidate {smallest}: " + seen[-1].reason
    last.candidates = seen
    return last


def _evaluate(
    tag: ModelTag, facts: HostFacts, request: Request, opts: SizingOptions, speed: SpeedModel, common: dict[str, Any]
) -> Decision:
    weights = weights_for(tag, request.precision)
    if request.context > tag.spec.context_max:
        return Decision(ok=False, reason=f"{tag.name}: context {request.context} > its maximum {tag.spec.context_max}",
                        model=tag.name, **common)
    plan = plan_memory(tag, weights.bytes, facts, opts)
    estimate = predict_speed(weights.bytes, tag.active_fraction, plan, facts, speed)
    ok = plan.placement != "none"
    reason = describe(tag, plan, facts, estimate, opts.placement)
    if ok and request.min_tokens_per_second:
        tps = estimate.tokens_per_second
        if tps is None:
            ok = False
            reason += f"; cannot check min_tokens_per_second {request.min_tokens_per_second:g}: {estimate.unknown}"
        elif tps < request.min_tokens_per_second:
            ok = False
            reason += f"; too slow: {fmt_tps(tps)} < min_tokens_per_second {request.min_tokens_per_second:g}"
    return Decision(
        ok=ok, reason=reason, model=tag.name, quantization=weights.quantization, pull=weights.pull_name,
        placement=plan.placement, gpus=sorted(plan.gpu_layers), cpu_share=plan.cpu_share,
        memory=_memory(plan), tokens_per_second=estimate.tokens_per_second,
        load_seconds=load_seconds(weights.bytes, request.disk_read_gbs, speed) if plan.placement != "none" else None,
        **common,
    )


def _memory(plan: MemoryPlan) -> dict[str, Any]:
    def gib(b: float) -> float:
        return round(b / GIB, 2)

    out: dict[str, Any] = {
        "weights_gib": gib(plan.weights), "kv_gib": gib(plan.kv), "overhead_gib": gib(plan.overhead),
        "total_gib": gib(plan.total), "layers": plan.layers,
    }
    if plan.gpu_layers:
        out["gpu"] = {str(i): {"layers": n, "gib": gib(plan.gpu_bytes[i])} for i, n in plan.gpu_layers.items()}
    if plan.cpu_layers:
        out["cpu"] = {"layers": plan.cpu_layers, "gib": gib(plan.cpu_bytes)}
    if plan.placement == "none":
        out["shortfall_gib"] = gib(plan.shortfall)
    return out


def recommend(
    facts: HostFacts | Sequence[HostFacts],
    requests: Sequence[Request | Mapping[str, Any]],
    catalog: Catalog,
    speed: SpeedModel = DEFAULT_SPEED,
) -> list[Decision]:
    """One Decision per host and request; bad requests raise InputError before any host is sized."""
    hosts = [facts] if isinstance(facts, HostFacts) else list(facts)
    parsed = [r if isinstance(r, Request) else parse_request(r) for r in requests]
    for r in parsed:
        candidates_for(r, catalog)
    return [select(h, r, catalog, speed) for h in hosts for r in parsed]
