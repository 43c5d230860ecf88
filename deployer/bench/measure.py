"""One benchmark of one model on one host, through the Ollama API.

Method (shared/reference/sizing.md, "Measure at deploy time"):

1. Warm-up: ``/api/generate`` with an empty prompt loads the model (Ollama's
   documented preload). Its wall time is the load time when /api/ps did not
   list the model before; a model already loaded is reported as such.
2. ``runs`` generations of the same prompt with fixed ``num_predict`` and
   ``seed`` (so every run decodes the same number of tokens), streamed.
3. Per run, from Ollama's own timings (nanoseconds, measured by the server,
   so the SSH tunnel does not distort them):
   decode tokens/s = eval_count / eval_duration * 1e9 (load time excluded);
   prompt tokens/s = prompt_eval_count / prompt_eval_duration * 1e9.
4. Time to first token: wall time on the control machine from sending the
   request to the first streamed chunk that carries text. It is what a user of
   the chat front end waits for: queueing, prompt evaluation and the first
   decode step, plus one tunnel round trip (milliseconds). The model is warm,
   so load time is not in it.
5. Placement from /api/ps after the runs (the state the runs ran in).

Ollama caches the prompt's KV between requests: a repeated prompt is mostly
served from that cache, so later runs report only a few prompt tokens. Prompt
tokens/s is therefore taken from the runs that evaluated at least half as
many prompt tokens as the largest run did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from deployer.bench.placement import Placement, find_loaded
from deployer.bench.sampler import Sampler, Utilisation
from deployer.bench.stats import Summary, summarize
from deployer.ollama.api import OllamaAPI, OllamaError


@dataclass(frozen=True)
class Settings:
    """How to benchmark: the same for every host, so results compare."""

    prompt: str
    runs: int = 3
    num_predict: int = 128
    seed: int = 42
    timeout: float = 600.0

    @property
    def options(self) -> dict[str, Any]:
        return {"num_predict": self.num_predict, "seed": self.seed}


@dataclass(frozen=True)
class RunSample:
    """The timings of one generation."""

    eval_count: int
    eval_duration_ns: int
    prompt_eval_count: int
    prompt_eval_duration_ns: int
    total_duration_ns: int
    ttft_s: float | None
    wall_s: float

    @property
    def tokens_per_second(self) -> float:
        return self.eval_count / self.eval_duration_ns * 1e9

    @property
    def prompt_tokens_per_second(self) -> float | None:
        if self.prompt_eval_count <= 0 or self.prompt_eval_duration_ns <= 0:
            return None
        return self.prompt_eval_count / self.prompt_eval_duration_ns * 1e9

    def to_data(self) -> dict[str, Any]:
        pts = self.prompt_tokens_per_second
        return {
            "eval_count": self.eval_count,
            "eval_duration_s": round(self.eval_duration_ns / 1e9, 4),
            "tokens_per_second": round(self.tokens_per_second, 2),
            "prompt_eval_count": self.prompt_eval_count,
            "prompt_tokens_per_second": None if pts is None else round(pts, 1),
            "ttft_s": None if self.ttft_s is None else round(self.ttft_s, 4),
            "total_s": round(self.total_duration_ns / 1e9, 4),
        }


def sample_from_final(final: dict[str, Any], ttft_s: float | None, wall_s: float) -> RunSample:
    """A RunSample from Ollama's final (done) object; OllamaError when it lacks the timings."""
    def count(key: str) -> int:
        value = final.get(key)
        return int(value) if isinstance(value, (int, float)) else 0

    sample = RunSample(
        eval_count=count("eval_count"),
        eval_duration_ns=count("eval_duration"),
        prompt_eval_count=count("prompt_eval_count"),
        prompt_eval_duration_ns=count("prompt_eval_duration"),
        total_duration_ns=count("total_duration"),
        ttft_s=ttft_s,
        wall_s=wall_s,
    )
    if sample.eval_count <= 0 or sample.eval_duration_ns <= 0:
        raise OllamaError(
            f"the answer has no decode timings (eval_count={final.get('eval_count')!r}, "
            f"eval_duration={final.get('eval_duration')!r}, done_reason={final.get('done_reason')!r})",
            hint="is it an embedding model? only generative models can be benchmarked",
        )
    return sample


class BenchAPI(OllamaAPI):
    """OllamaAPI plus a streamed, timed generation."""

    def timed_generate(self, model: str, prompt: str, options: dict[str, Any], timeout: float) -> RunSample:
        """One streamed /api/generate; time to first token measured here, the rest from the server."""
        body = {"model": model, "prompt": prompt, "stream": True, "options": options}
        start = time.monotonic()
        ttft: float | None = None
        final: dict[str, Any] | None = None
        for event in self._stream("POST", "/api/generate", body, timeout):
            if "error" in event:
                raise OllamaError(f"generate {model}: {event['error']}")
            if ttft is None and (event.get("response") or event.get("thinking")):
                ttft = time.monotonic() - start
            if event.get("done"):
                final = event
        wall = time.monotonic() - start
        if final is None:
            raise OllamaError(f"generate {model}: the stream ended without a final object")
        return sample_from_final(final, ttft, wall)


@dataclass
class Measurement:
    """Everything measured for one model on one host."""

    model: str
    was_loaded: bool
    load_s: float
    placement: Placement | None
    runs: list[RunSample]
    utilisation: Utilisation = field(default_factory=Utilisation)

    @property
    def decode(self) -> Summary:
        summary = summarize(r.tokens_per_second for r in self.runs)
        assert summary is not None, "a measurement has at least one run"
        return summary

    @property
    def prompt(self) -> Summary | None:
        return summarize(prompt_rates(self.runs))

    @property
    def ttft(self) -> Summary | None:
        return summarize(r.ttft_s for r in self.runs if r.ttft_s is not None)

    def to_data(self) -> dict[str, Any]:
        prompt, ttft = self.prompt, self.ttft
        return {
            "tokens_per_second": self.decode.to_data(2),
            "prompt_tokens_per_second": None if prompt is None else prompt.to_data(1),
            "ttft_s": None if ttft is None else ttft.to_data(4),
            "load_s": round(self.load_s, 3),
            "was_loaded": self.was_loaded,
            "placement": None if self.placement is None else self.placement.to_data(),
            "utilisation": self.utilisation.to_data(),
            "runs": [r.to_data() for r in self.runs],
        }


def prompt_rates(runs: list[RunSample]) -> list[float]:
    """Prompt tokens/s of the runs that really evaluated the prompt (not served from Ollama's cache)."""
    most = max((r.prompt_eval_count for r in runs), default=0)
    return [r.prompt_tokens_per_second for r in runs
            if r.prompt_tokens_per_second is not None and r.prompt_eval_count * 2 >= most]


def measure(api: BenchAPI, model: str, settings: Settings, start_sampler: Callable[[], Sampler] | None = None) -> Measurement:
    """Warm `model` up, run it `settings.runs` times, read its placement; raises OllamaError."""
    was_loaded = find_loaded(api.ps(), model) is not None
    started = time.monotonic()
    api.generate(model, "", timeout=settings.timeout)
    load_s = time.monotonic() - started
    warm = find_loaded(api.ps(), model)
    sampler = start_sampler() if start_sampler else None
    runs: list[RunSample] = []
    try:
        for _ in range(settings.runs):
            runs.append(api.timed_generate(model, settings.prompt, settings.options, settings.timeout))
    finally:
        use = sampler.stop() if sampler else Utilisation(error="not sampled")
    placement = find_loaded(api.ps(), model) or warm
    return Measurement(model, was_loaded, load_s, placement, runs, use)
