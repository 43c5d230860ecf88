"""One model's benchmark as data: measure, compare with the plan, flag.

The ``benchmarks`` entries of an llm_benchmark result (and of report.json) look like::

    {"request": "deepseek-r1", "model": "deepseek-r1:14b", "status": "ok|warn|fail|error|would_run",
     "settings": {"prompt", "runs", "num_predict", "seed"},
     "limits": {"min_tokens_per_second", "max_slowdown", "only_warn"},
     "plan": Plan.to_data(), "measured": Measurement.to_data(), "flags": [Flag.to_data()],
     "error": "..." (status error only)}
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any, Callable

from deployer.bench import flags as flagrules
from deployer.bench.measure import BenchAPI, Settings, measure
from deployer.bench.plan import Plan, computed
from deployer.bench.sampler import Sampler
from deployer.errors import DeployerError
from deployer.facts.model import HostFacts

_ENDPOINT = re.compile(r"^(?:https?://)?(\[[^\]]+\]|[^:/\[\]]*):(\d{1,5})/?$")
WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def parse_endpoint(text: str) -> tuple[str, int]:
    """'127.0.0.1:11434', 'http://[::1]:11434', '0.0.0.0:8080' -> (host, port) a client on the host dials."""
    m = _ENDPOINT.match(text.strip())
    if not m or not 0 < int(m.group(2)) < 65536:
        raise DeployerError(f"endpoint '{text}' is not host:port", hint="e.g. 127.0.0.1:11434")
    host = m.group(1)
    if host in WILDCARDS:
        host = "127.0.0.1"
    return host.strip("[]"), int(m.group(2))


def run_one(
    api: BenchAPI,
    plan: Plan | None,
    request: str,
    model: str,
    settings: Settings,
    limits: flagrules.Limits,
    facts: HostFacts | None,
    start_sampler: Callable[[], Sampler] | None,
) -> tuple[dict[str, Any], list[flagrules.Flag]]:
    """Benchmark `model`; returns its data and flags. Raises OllamaError when it cannot run."""
    m = measure(api, model, settings, start_sampler)
    if plan is None:
        context = m.placement.context_length if m.placement else None
        plan = computed(request, model, facts, context) if facts is not None else Plan(request, model, "none", note="no facts")
    found = flagrules.evaluate(m, plan, limits, facts)
    data = {
        "request": request,
        "model": model,
        "status": flagrules.status(found),
        "settings": settings_data(settings),
        "limits": asdict(limits),
        "plan": plan.to_data(),
        "measured": m.to_data(),
        "flags": [f.to_data() for f in found],
    }
    return data, found


def settings_data(settings: Settings) -> dict[str, Any]:
    out = asdict(settings)
    out.pop("timeout")
    return out


def line(bench: dict[str, Any]) -> str:
    """'deepseek-r1:7b: 41.2 tok/s (39.8-42.0), predicted 40.0, 100% GPU, TTFT 0.21 s' for messages."""
    model = bench.get("model", "?")
    if bench.get("status") == "error":
        return f"{model}: {bench.get('error')}"
    measured = bench.get("measured")
    if not measured:
        return f"{model}: would benchmark ({bench['settings']['runs']} runs x {bench['settings']['num_predict']} tokens)"
    tps = measured["tokens_per_second"]
    text = f"{model}: {tps['median']:.1f} tok/s"
    if tps["n"] > 1:
        text += f" ({tps['min']:.1f}-{tps['max']:.1f})"
    predicted = (bench.get("plan") or {}).get("tokens_per_second")
    text += f", predicted {predicted:.1f}" if predicted else ", no prediction"
    if measured.get("placement"):
        text += f", {measured['placement']['label']}"
    if measured.get("ttft_s"):
        text += f", TTFT {measured['ttft_s']['median']:.2f} s"
    return text
