"""llm_benchmark: prove a host serves its model, measure its speed, compare with the plan.

Through an SSH tunnel to the host's Ollama API: warm the model up, run a fixed
prompt ``runs`` times with fixed ``num_predict`` and ``seed``, and report the
median and range of decode tokens/s, prompt tokens/s, time to first token and
load time (method: deployer/bench/measure.py), the placement /api/ps shows
(``100% GPU``, ``48%/52% CPU/GPU``), and CPU/GPU use sampled on the host during
the runs. The prediction (``deployer_models``, or computed from the facts)
stands next to the measurement; a model slower than ``max_slowdown`` x the
prediction, or spilled to the CPU although planned on the GPU, is a warning
with its likely causes; one below ``min_tokens_per_second`` fails the task
(a warning with ``only_warn``).

It changes nothing on the host: check() returns None and the numbers go to the
result (``register:`` it; ``benchmarks[0].measured.tokens_per_second.median``).
Under --check nothing is generated (a benchmark loads models and takes
minutes): the task checks that Ollama answers and has the model, and says
"would benchmark"; when earlier tasks would install them, it does not fail.

The play key ``verify:`` expands into one "Benchmark <model>" task per entry
of the play's ``models:`` (or the one ``model:`` it names).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from deployer import yamlload
from deployer.bench import benchmark as bench
from deployer.bench import flags as flagrules
from deployer.bench.hardware import summary as hardware_summary
from deployer.bench.measure import BenchAPI, Settings
from deployer.bench.placement import canonical_name
from deployer.bench.plan import Plan, from_vars
from deployer.bench.sampler import Sampler
from deployer.errors import DeployerError, InputError, Location, ModuleFailure, did_you_mean
from deployer.facts.model import HostFacts
from deployer.modules import register
from deployer.modules.base import Change, Module, ModuleArgs, TaskContext
from deployer.ollama.api import OllamaError
from deployer.ollama.config import DEFAULT_ENDPOINT
from deployer.playbook import register_stack_key
from deployer.templating import is_template

DEFAULT_PROMPT = "Why is the sky blue? Explain it to a curious twelve-year-old in one paragraph."
#: seconds between two samples of CPU/GPU use
SAMPLE_INTERVAL = 1.0


class LlmBenchmarkArgs(ModuleArgs):
    model: str | None = Field(
        None,
        description="The models: entry name (its chosen tag is taken from deployer_models) or an Ollama tag "
        "such as deepseek-r1:7b. Unset: the models deployer_models lists, else every model installed on the host.",
    )
    prompt: str = Field(DEFAULT_PROMPT, min_length=1, description="The fixed prompt of every run.")
    runs: int = Field(3, ge=1, le=100, description="Timed runs; the median and range are reported.")
    num_predict: int = Field(128, ge=1, le=16384, description="Tokens to generate per run (>= 128 for a stable rate).")
    seed: int = Field(42, description="Sampling seed, so every run generates the same text.")
    min_tokens_per_second: float | None = Field(
        5.0, ge=0, description="Fail when the median decode speed is below this (null: never)."
    )
    only_warn: bool = Field(False, description="Below min_tokens_per_second: warn instead of failing.")
    max_slowdown: float = Field(
        0.5, gt=0, le=1, description="Warn when measured < max_slowdown x predicted tokens/s."
    )
    endpoint: str | None = Field(
        None, description=f"Where Ollama listens, as the host sees it (default {DEFAULT_ENDPOINT}); reached through an SSH tunnel."
    )
    timeout: float = Field(600, gt=0, description="Seconds one generation (or the warm-up load) may take.")


@register
class LlmBenchmark(Module[LlmBenchmarkArgs]):
    """Benchmark the host's model(s) through its Ollama API; read-only."""

    name = "llm_benchmark"
    Args = LlmBenchmarkArgs

    def check(self, ctx: TaskContext, args: LlmBenchmarkArgs) -> Change | None:
        planned = _planned(args.model, ctx.vars.get("deployer_models"))
        endpoint = args.endpoint or next((p.endpoint for _, _, p in planned or [] if p and p.endpoint), DEFAULT_ENDPOINT)
        host, port = bench.parse_endpoint(endpoint)
        local_host, local_port = ctx.tunnel(host, port)
        api = BenchAPI(f"http://{local_host}:{local_port}", timeout=30)
        settings = Settings(args.prompt, args.runs, args.num_predict, args.seed, args.timeout)
        facts = _facts(ctx)
        if facts is not None:
            ctx.report(hardware=hardware_summary(facts))
        pending = ctx.check_mode and ctx.earlier_changes_pending
        if not api.running():
            if pending:
                return self._would(ctx, args, settings, planned or [], f"Ollama is not answering at {endpoint} yet")
            raise ModuleFailure(
                f"Ollama does not answer at {endpoint} on {ctx.host}",
                hint="is it installed and running? (the play's ollama: key installs it; endpoint: names another port; "
                "the host's sshd must allow TCP forwarding: deployer reaches Ollama through an SSH tunnel)",
            )
        installed = [canonical_name(str(m.get("name") or m.get("model"))) for m in api.tags()]
        targets = planned if planned is not None else [(m, m, None) for m in installed]
        missing = [t for _, t, _ in targets if canonical_name(t) not in installed]
        if ctx.check_mode:
            if missing and not pending:
                raise _missing(missing, installed, ctx.host)
            return self._would(ctx, args, settings, targets, "not run under --check: it loads the model")
        if missing:
            raise _missing(missing, installed, ctx.host)
        if not targets:
            raise ModuleFailure(f"no model is installed on {ctx.host}: nothing to benchmark",
                                hint="deploy one with the play's models: key, or name it with model:")
        limits = flagrules.Limits(args.min_tokens_per_second, args.max_slowdown, args.only_warn)
        results: list[dict[str, Any]] = []
        failures: list[str] = []
        for request, model, plan in targets:
            try:
                data, found = bench.run_one(api, plan, request, model, settings, limits, facts,
                                            lambda: Sampler(ctx.probe, SAMPLE_INTERVAL).start())
            except OllamaError as exc:
                results.append({"request": request, "model": model, "status": "error", "error": str(exc),
                                "settings": bench.settings_data(settings),
                                "plan": None if plan is None else plan.to_data(), "flags": []})
                failures.append(f"{model}: {exc}")
                continue
            results.append(data)
            for f in found:
                if f.severity == "fail":
                    failures.append(f.text())
                else:
                    ctx.warn(f.text())
        ctx.report(benchmarks=results, msg="; ".join(bench.line(b) for b in results))
        if failures:
            raise ModuleFailure("; ".join(failures))
        return None

    @staticmethod
    def _would(ctx: TaskContext, args: LlmBenchmarkArgs, settings: Settings,
               targets: list[tuple[str, str, Plan | None]], why: str) -> None:
        listed = targets or [(args.model or "the host's models", args.model or "the host's models", None)]
        benches = [{"request": r, "model": m, "status": "would_run", "settings": bench.settings_data(settings),
                    "plan": None if p is None else p.to_data(), "flags": []} for r, m, p in listed]
        ctx.report(benchmarks=benches,
                   msg=f"would benchmark {', '.join(m for _, m, _ in listed)}: {settings.runs} runs x "
                       f"{settings.num_predict} tokens ({why})")
        return None


def _facts(ctx: TaskContext) -> HostFacts | None:
    try:
        return ctx.facts()
    except (RuntimeError, DeployerError):
        return None  # no facts (planning from a file without this host): no computed prediction


def _planned(model: str | None, deployer_models: Any) -> list[tuple[str, str, Plan | None]] | None:
    """(request, tag, plan) to benchmark: the one asked, else deployer_models' entries; None: all installed."""
    if model is not None:
        plan = from_vars(model, deployer_models)
        return [(model, plan.model if plan else model, plan)]
    if isinstance(deployer_models, dict) and deployer_models:
        plans = [(str(name), from_vars(str(name), deployer_models)) for name in deployer_models]
        return [(name, plan.model, plan) for name, plan in plans if plan is not None]
    return None


def _missing(missing: list[str], installed: list[str], host: str) -> ModuleFailure:
    return ModuleFailure(
        f"{', '.join(missing)} not installed on {host} (installed: {', '.join(installed) or 'none'})",
        hint="deploy it with the play's models: key (or `ollama pull`) before benchmarking it",
    )


# -- the play's verify: key ------------------------------------------------------


def expand_verify(value: Any, play: dict, where: Location) -> list[dict]:
    """`verify:` -> one llm_benchmark task per models: entry (or the one `model:` names)."""
    if value is None or value is True:
        value = {}
    if value is False:
        return []
    if not isinstance(value, dict):
        raise InputError("verify: must be a mapping (or true)", where, "e.g. verify: {runs: 3, min_tokens_per_second: 5}")
    _validate(value, where)
    args = dict(value)
    if "endpoint" not in args:
        listen = play.get("ollama", {}).get("listen") if isinstance(play.get("ollama"), dict) else None
        if isinstance(listen, str):
            args["endpoint"] = listen
    if args.get("model") is not None:
        names = [str(args.pop("model"))]
    else:
        names = _model_names(play.get("models"), where)
    return [{"name": f"Benchmark {n}", "llm_benchmark": {**args, "model": n}, "tags": ["verify"]} for n in names]


def _model_names(models: Any, where: Location) -> list[str]:
    names: list[str] = []
    for entry in models if isinstance(models, list) else []:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    if not names:
        raise InputError("verify: has no model to benchmark: the play has no models: entries",
                         where, "add models: to the play, or name one with verify: {model: deepseek-r1:7b}")
    return names


def _validate(value: dict, where: Location) -> None:
    """Unknown keys and wrong values, at their position (templated values are checked after rendering)."""
    for key in value:
        if key not in LlmBenchmarkArgs.model_fields:
            hint = did_you_mean(str(key), list(LlmBenchmarkArgs.model_fields)) or (
                "verify: takes " + ", ".join(LlmBenchmarkArgs.model_fields))
            raise InputError(f"verify: unknown key '{key}'", yamlload.key_location(value, key) or where, hint)
    concrete = {k: v for k, v in value.items() if not is_template(v)}
    try:
        LlmBenchmarkArgs.model_validate(concrete)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "verify"
        msg = err["msg"].removeprefix("Value error, ")
        raise InputError(f"verify: '{key}': {msg} (got {err.get('input')!r:.60})",
                         yamlload.key_location(value, key) or where) from None


register_stack_key("verify", 100, expand_verify)
