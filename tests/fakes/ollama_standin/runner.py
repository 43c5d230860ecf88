"""Loaded models and text generation: the scheduler and llama runner, faked.

Generation really takes time: prompt tokens at FAKE_OLLAMA_PROMPT_TOKENS_PER_SECOND,
output tokens at FAKE_OLLAMA_TOKENS_PER_SECOND (FAKE_OLLAMA_CPU_TOKENS_PER_SECOND
when the model does not fit the fake GPU), a cold load takes FAKE_OLLAMA_LOAD_SECONDS,
so durations measured by a client match the ones reported. Text is deterministic
for a given seed (or temperature 0), random otherwise.

Placement: a loaded model's size is its manifest size; size_vram is what fits in
FAKE_OLLAMA_VRAM_BYTES minus OLLAMA_GPU_OVERHEAD and the other loaded models.
"""

from __future__ import annotations

import datetime as _dt
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import config, goish, names
from .store import Manifest, Store

WORDS = ("the sky appears blue because air molecules scatter shorter wavelengths of sunlight "
         "more strongly than longer ones this effect is called rayleigh scattering and it "
         "explains why sunsets look red while noon looks bright blue light travels through "
         "more atmosphere near the horizon so most blue is scattered away before it reaches "
         "your eyes").split()


class RunnerError(Exception):
    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Loaded:
    name: names.Name
    manifest: Manifest
    details: dict[str, Any]
    size: int
    size_vram: int
    context_length: int
    num_gpu: int | None
    slots: threading.Semaphore
    busy: int = 0
    expires_at: _dt.datetime = field(default_factory=goish.now_local)


def _expiry(keep_alive_ns: int) -> _dt.datetime:
    now = goish.now_local()
    if keep_alive_ns >= goish.MAX_DURATION:
        return now + _dt.timedelta(days=106751)  # now + math.MaxInt64 ns
    return now + _dt.timedelta(microseconds=keep_alive_ns // 1000)


class Scheduler:
    """Which models are loaded, until when, and how much of each sits on the GPU."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.loaded: dict[tuple[str, ...], Loaded] = {}

    def _purge(self) -> None:
        now = goish.now_local()
        for key, run in list(self.loaded.items()):
            if run.busy == 0 and run.expires_at <= now:
                del self.loaded[key]

    def _placement(self, size: int, num_gpu: int | None, exclude: tuple[str, ...]) -> int:
        if num_gpu == 0:
            return 0
        free = config.vram_bytes() - config.uint_var("OLLAMA_GPU_OVERHEAD", 0)
        free -= sum(r.size_vram for k, r in self.loaded.items() if k != exclude)
        return max(0, min(size, free))

    def acquire(self, name: names.Name, manifest: Manifest, options: dict[str, Any]) -> tuple[Loaded, int]:
        """Load (or reuse) the model and take a slot; returns it and the load time in ns."""
        start = time.monotonic_ns()
        key = name.key()
        num_ctx = int(options.get("num_ctx") or config.default_context_length())
        num_gpu = options.get("num_gpu")
        with self.lock:
            self._purge()
            run = self.loaded.get(key)
            if run and (run.manifest.digest != manifest.digest or run.context_length != num_ctx
                        or run.num_gpu != num_gpu):
                del self.loaded[key]
                run = None
            cold = run is None
            if cold:
                limit = config.uint_var("OLLAMA_MAX_LOADED_MODELS", 0) or 3
                while len(self.loaded) >= limit:
                    oldest = min(self.loaded, key=lambda k: self.loaded[k].expires_at)
                    del self.loaded[oldest]
                size = manifest.size()
                vram = self._placement(size, num_gpu, key)
                ram = config.knob_int("FAKE_OLLAMA_RAM_BYTES", 0)
                if ram and size - vram > ram:
                    raise RunnerError(f"model requires more system memory ({_gib(size - vram)}) "
                                      f"than is available ({_gib(ram)})")
                parallel = config.uint_var("OLLAMA_NUM_PARALLEL", 0) or 1
                run = Loaded(name, manifest, self.store.details(manifest), size, vram, num_ctx,
                             num_gpu, threading.Semaphore(parallel))
                self.loaded[key] = run
            run.busy += 1
            run.expires_at = _expiry(goish.MAX_DURATION)
        if cold:
            time.sleep(config.knob_float("FAKE_OLLAMA_LOAD_SECONDS", 0.1))
        run.slots.acquire()
        return run, time.monotonic_ns() - start

    def release(self, run: Loaded, keep_alive_ns: int) -> None:
        run.slots.release()
        with self.lock:
            run.busy -= 1
            if run.busy == 0:
                run.expires_at = _expiry(keep_alive_ns)
                if keep_alive_ns == 0:
                    self.loaded.pop(run.name.key(), None)

    def expire(self, name: names.Name) -> None:
        with self.lock:
            run = self.loaded.get(name.key())
            if run and run.busy == 0:
                del self.loaded[name.key()]

    def ps(self) -> list[dict[str, Any]]:
        with self.lock:
            self._purge()
            runs = list(self.loaded.values())
        runs.sort(key=lambda r: r.expires_at, reverse=True)
        out = []
        for run in runs:
            entry: dict[str, Any] = {
                "name": run.name.display_shortest(), "model": run.name.display_shortest(),
                "size": run.size, "digest": run.manifest.digest, "details": run.details,
                "expires_at": goish.rfc3339nano(run.expires_at), "size_vram": run.size_vram}
            if config.at_least("0.10.0"):
                entry["context_length"] = run.context_length
            out.append(entry)
        return out


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def prompt_tokens(text: str) -> int:
    """A tokenizer's count, roughly: words and punctuation, plus the chat template's tokens."""
    return len(re.findall(r"\w+|[^\w\s]", text)) + 6


@dataclass
class Step:
    """One streamed piece of a generation; the last one carries the metrics."""

    text: str
    done: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)


def generate(run: Loaded, prompt: str, options: dict[str, Any], load_ns: int, started_ns: int,
             cancelled: Callable[[], bool] = lambda: False) -> Iterator[Step]:
    """Yield tokens at the configured speed, then a final Step with Ollama's metrics."""
    seed = options.get("seed")
    temperature = options.get("temperature")
    if seed is not None and int(seed) >= 0 or temperature == 0:
        rng = random.Random(f"{seed}|{run.name.display_shortest()}|{prompt}")
    else:
        rng = random.Random()
    natural = config.knob_int("FAKE_OLLAMA_RESPONSE_TOKENS", 64)
    limit = int(options.get("num_predict") or -1)
    count = natural if limit < 0 else min(limit, natural)
    reason = "length" if 0 <= limit < natural else "stop"
    rate = config.knob_float("FAKE_OLLAMA_TOKENS_PER_SECOND", 50.0)
    cpu_rate = config.knob_float("FAKE_OLLAMA_CPU_TOKENS_PER_SECOND", 0.0)
    if cpu_rate and run.size_vram < run.size:
        rate = cpu_rate
    n_prompt = prompt_tokens(prompt)
    prompt_rate = config.knob_float("FAKE_OLLAMA_PROMPT_TOKENS_PER_SECOND", rate * 10)
    t0 = time.monotonic_ns()
    time.sleep(n_prompt / prompt_rate)
    t1 = time.monotonic_ns()
    produced = 0
    for i in range(count):
        if cancelled():
            return
        word = rng.choice(WORDS)
        token = (word.capitalize() if i == 0 else " " + word) + ("." if i == count - 1 else "")
        due = t1 + int((i + 1) * goish.SECOND / rate)
        pause = due - time.monotonic_ns()
        if pause > 0:
            time.sleep(pause / goish.SECOND)
        produced += 1
        yield Step(token)
    t2 = time.monotonic_ns()
    yield Step("", True, {
        "done_reason": reason,
        "context": [rng.randrange(1, 150000) for _ in range(n_prompt + produced)],
        "total_duration": t2 - started_ns, "load_duration": load_ns,
        "prompt_eval_count": n_prompt, "prompt_eval_duration": t1 - t0,
        "eval_count": produced, "eval_duration": t2 - t1})
