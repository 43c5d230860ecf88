"""What was predicted for a model on a host: the numbers the measurement is compared with.

The models module leaves its decisions in the host variable ``deployer_models``,
keyed by the ``models:`` entry name::

    deployer_models:
      deepseek-r1:                       # the models: entry name
        model: deepseek-r1:14b           # the chosen tag ("tag" is accepted too)
        placement: gpu                   # gpu | split | cpu | none
        cpu_share: 0.0
        tokens_per_second: 81.3          # predicted decode speed ("predicted_tokens_per_second" too)
        reason: "RTX 4090 24 GiB: deepseek-r1:14b needs ... -> all on GPU, ~81 tok/s"
        context: 8192
        memory_gib: 11.0                 # or memory: {total_gib: ...}
        endpoint: 127.0.0.1:11434        # where that Ollama listens

(deployer.ollama.models.Target.vars; Decision.to_json()'s keys are read too). When a host has no
such entry - Ollama and its models were set up by other means, or ``deployer
bench`` runs on its own - the prediction is computed from the host's facts with
:func:`deployer.llm.select.select` for the tag that is loaded, with Ollama's own
policy (GPU, spilling to the CPU when it must) and the context /api/ps reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Mapping

from deployer.bench.placement import canonical_name
from deployer.errors import DeployerError
from deployer.facts.model import HostFacts
from deployer.llm.catalog import Catalog, load_catalog
from deployer.llm.select import Request, select

DEFAULT_CONTEXT = 8192


@dataclass
class Plan:
    """The prediction for one model on one host; `source` says where it came from."""

    request: str
    model: str
    source: str  # "deployer_models" | "computed" | "none"
    placement: str | None = None
    cpu_share: float | None = None
    tokens_per_second: float | None = None
    reason: str | None = None
    context: int | None = None
    memory_gib: float | None = None
    note: str | None = None  # why there is no prediction
    endpoint: str | None = None  # where the models task reached Ollama

    def to_data(self) -> dict[str, Any]:
        out = asdict(self)
        if self.tokens_per_second is not None:
            out["tokens_per_second"] = round(self.tokens_per_second, 2)
        return out


def _first(entry: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if entry.get(k) is not None:
            return entry[k]
    return None


def from_vars(request: str, deployer_models: Any) -> Plan | None:
    """The plan for `request` (a models: entry name, or a tag) from ``deployer_models``, if any."""
    if not isinstance(deployer_models, Mapping):
        return None
    entry = deployer_models.get(request)
    if not isinstance(entry, Mapping):
        want = canonical_name(request)
        entry = next((e for e in deployer_models.values() if isinstance(e, Mapping)
                      and canonical_name(str(_first(e, "model", "tag") or "")) == want), None)
    if entry is None:
        return None
    tag = _first(entry, "model", "tag") or request
    memory = entry.get("memory")
    memory_gib = _first(entry, "memory_gib") or (memory.get("total_gib") if isinstance(memory, Mapping) else None)
    tps = _first(entry, "tokens_per_second", "predicted_tokens_per_second")
    share = entry.get("cpu_share")
    ctx = entry.get("context")
    return Plan(
        request=request,
        model=str(tag),
        source="deployer_models",
        placement=_first(entry, "placement"),
        cpu_share=float(share) if isinstance(share, (int, float)) else None,
        tokens_per_second=float(tps) if isinstance(tps, (int, float)) else None,
        reason=_first(entry, "reason"),
        context=int(ctx) if isinstance(ctx, (int, float)) else None,
        memory_gib=float(memory_gib) if isinstance(memory_gib, (int, float)) else None,
        note=None if isinstance(tps, (int, float)) else "the plan has no tokens/s prediction",
        endpoint=entry.get("endpoint") if isinstance(entry.get("endpoint"), str) else None,
    )


@lru_cache(maxsize=1)
def _catalog() -> Catalog:
    return load_catalog()


def computed(request: str, model: str, facts: HostFacts, context: int | None, catalog: Catalog | None = None) -> Plan:
    """The prediction for tag `model` on a host with `facts`, or a Plan saying why there is none."""
    catalog = catalog or _catalog()
    try:
        tag = catalog.resolve(canonical_name(model))
        decision = select(facts, Request(model=tag.name, placement="gpu_or_spill", context=context or DEFAULT_CONTEXT), catalog)
    except DeployerError as exc:
        return Plan(request, model, "none", note=f"no prediction: {exc}")
    return Plan(
        request=request,
        model=model,
        source="computed",
        placement=decision.placement,
        cpu_share=decision.cpu_share,
        tokens_per_second=decision.tokens_per_second,
        reason=decision.reason,
        context=decision.context,
        memory_gib=decision.memory_gib,
        note=None if decision.tokens_per_second is not None else "tokens/s cannot be predicted: " + decision.reason,
    )
