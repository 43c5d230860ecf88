"""Predicted against measured decode speed, for the reference table of sizing.md.

    python benchmarks/calibration.py

Each row is run through the same path as a real host: a --hardware spec becomes
HostFacts, deployer.llm.select sizes and places the model, deployer.llm.speed
predicts tokens/s. The measured numbers are those of
shared/reference/sizing.md ("Measured references to calibrate with"); the
context is what the benchmark ran with (llama-bench tg128: a few hundred
tokens; Ollama at the time: 2048).
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployer.llm.catalog import Catalog, load_catalog  # noqa: E402
from deployer.llm.select import Request, select  # noqa: E402
from deployer.llm.spec import parse_hardware_spec  # noqa: E402
from deployer.llm.speed import DEFAULT_SPEED, SpeedModel  # noqa: E402

# The original LLaMA 7B in Q4_0 (llama.cpp's reference model for CPU numbers): not an Ollama tag.
LLAMA1 = {
    "families": {
        "llama": {
            "tags": {
                "7b": {
                    "params_b": 6.74, "quantization": "Q4_0", "size_bytes": 3_825_000_000, "context_max": 2048,
                    "arch": {"layers": 32, "heads": 32, "kv_heads": 32, "head_dim": 128,
                             "embedding": 4096, "vocab": 32000},
                }
            }
        }
    }
}


@dataclass(frozen=True)
class Row:
    """One measured reference."""

    hardware: str
    model: str
    measured: float
    engine: str
    spec: str
    request: dict


ROWS = (
    Row("RTX 4090", "Llama 3 8B Q4_K_M", 127.7, "llama.cpp", "gpu=RTX 4090",
        {"model": "llama3.1:8b", "context": 512}),
    Row("A100 SXM 80GB", "Llama 3 8B Q4_K_M", 133.4, "llama.cpp", "gpu=A100 SXM 80GB",
        {"model": "llama3.1:8b", "context": 512}),
    Row("RTX 3090", "Llama 3 8B F16", 46.5, "llama.cpp", "gpu=RTX 3090",
        {"model": "llama3.1:8b", "precision": "F16", "context": 512}),
    Row("A100 SXM 80GB", "Llama 3 70B Q4_K_M", 24.3, "llama.cpp", "gpu=A100 SXM 80GB",
        {"model": "llama3.3:70b", "context": 512}),
    Row("RTX 4090", "deepseek-r1:14b", 92.5, "ollama", "gpu=RTX 4090",
        {"model": "deepseek-r1:14b", "context": 2048}),
    Row("Core i9-13900K, DDR5-6400 2ch", "LLaMA 7B Q4_0", 18.3, "llama.cpp",
        "cpu=Core i9-13900K,memory=DDR5-6400x2,ram=64", {"model": "llama:7b", "context": 512}),
    Row("Ryzen 7900X + RTX 4090, split", "llama3.1:70b Q4_K_M", 3.1, "ollama",
        "gpu=RTX 4090,cpu=Ryzen 9 7900X,ram=64",
        {"model": "llama3.1:70b", "context": 2048, "placement": "gpu_or_spill"}),
)



def _held(gpu: str, model: str, measured: float) -> Row:
    precision = "F16" if "F16" in model else "tag"
    tag = "llama3.3:70b" if "70B" in model else "llama3.1:8b"
    return Row(gpu, model, measured, "llama.cpp", f"gpu={gpu}",
               {"model": tag, "precision": precision, "context": 1024, "placement": "gpu"})


# Held out: not used to fit the constants. Same suite as the llama.cpp rows above
# (XiongjieDai/GPU-Benchmarks-on-LLM-Inference README, LLaMA 3, tg 1024, May 2024).
HELD_OUT = (
    _held("RTX 3070", "Llama 3 8B Q4_K_M", 70.94),
    _held("RTX 3080 10GB", "Llama 3 8B Q4_K_M", 106.40),
    _held("RTX 3080 Ti", "Llama 3 8B Q4_K_M", 106.71),
    _held("RTX 4070 Ti", "Llama 3 8B Q4_K_M", 82.21),
    _held("RTX 4080", "Llama 3 8B Q4_K_M", 106.22),
    _held("RTX 4080", "Llama 3 8B F16", 40.29),
    _held("RTX 3090", "Llama 3 8B Q4_K_M", 111.74),
    _held("RTX 4090", "Llama 3 8B F16", 54.34),
    _held("RTX 4000 Ada", "Llama 3 8B Q4_K_M", 58.59),
    _held("RTX 4000 Ada", "Llama 3 8B F16", 20.85),
    _held("RTX 5000 Ada", "Llama 3 8B Q4_K_M", 89.87),
    _held("RTX 5000 Ada", "Llama 3 8B F16", 32.67),
    _held("RTX A6000", "Llama 3 8B Q4_K_M", 102.22),
    _held("RTX A6000", "Llama 3 8B F16", 40.25),
    _held("RTX A6000", "Llama 3 70B Q4_K_M", 14.58),
    _held("RTX 6000 Ada", "Llama 3 8B Q4_K_M", 130.99),
    _held("RTX 6000 Ada", "Llama 3 8B F16", 51.97),
    _held("RTX 6000 Ada", "Llama 3 70B Q4_K_M", 18.36),
    _held("A40", "Llama 3 8B Q4_K_M", 88.95),
    _held("A40", "Llama 3 8B F16", 33.95),
    _held("A40", "Llama 3 70B Q4_K_M", 12.08),
    _held("L40S", "Llama 3 8B Q4_K_M", 113.60),
    _held("L40S", "Llama 3 8B F16", 43.42),
    _held("L40S", "Llama 3 70B Q4_K_M", 15.31),
    _held("A100 PCIe 80GB", "Llama 3 8B Q4_K_M", 138.31),
    _held("A100 PCIe 80GB", "Llama 3 8B F16", 54.56),
    _held("A100 PCIe 80GB", "Llama 3 70B Q4_K_M", 22.11),
    _held("2xRTX 4090", "Llama 3 70B Q4_K_M", 19.06),
    _held("2xRTX 3090", "Llama 3 70B Q4_K_M", 16.29),
)


@dataclass(frozen=True)
class Result:
    row: Row
    predicted: float | None
    placement: str

    @property
    def error(self) -> float | None:
        """(predicted - measured) / measured."""
        return None if self.predicted is None else (self.predicted - self.row.measured) / self.row.measured


def evaluate(
    speed: SpeedModel = DEFAULT_SPEED, catalog: Catalog | None = None, rows: tuple[Row, ...] = ROWS
) -> list[Result]:
    """Predict every row with `speed`."""
    catalog = catalog or load_catalog([LLAMA1])
    out = []
    for row in rows:
        decision = select(parse_hardware_spec(row.spec), Request(**row.request), catalog, speed)
        out.append(Result(row, decision.tokens_per_second, decision.placement))
    return out


def median_abs_error(results: list[Result]) -> float:
    """Median of |relative error| over the rows with a prediction."""
    return statistics.median(abs(r.error) for r in results if r.error is not None)


def _report(title: str, results: list[Result]) -> None:
    print(title)
    print(f"{'hardware':32} {'model':22} {'place':6} {'measured':>9} {'predicted':>9} {'error':>7}")
    for r in results:
        pred = "-" if r.predicted is None else f"{r.predicted:9.1f}"
        err = "-" if r.error is None else f"{r.error:+7.1%}"
        print(f"{r.row.hardware:32} {r.row.model:22} {r.placement:6} {r.row.measured:9.1f} {pred:>9} {err:>7}")
    errors = [abs(r.error) for r in results if r.error is not None]
    print(f"{len(errors)} rows: median |error| {median_abs_error(results):.1%}, max |error| {max(errors):.1%}\n")


def main() -> int:
    _report("Fitted on (shared/reference/sizing.md):", evaluate())
    _report("Held out (not used for fitting):", evaluate(rows=HELD_OUT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
