"""The tokens/s model against measured numbers (benchmarks/calibration.py).

Bounds, and why:
- fitted rows (sizing.md's 7 measurements): median |error| <= 10%. The rows
  themselves disagree by about that much: the RTX 4090 runs Llama 3 8B at 59%
  of peak bandwidth but deepseek-r1:14b (Ollama) at 78%, which no single
  (eta, c) reproduces within 10% for both; the current fit reaches ~3%.
- held-out rows (29 llama.cpp runs on other cards, not used to fit): median
  <= 12%, so the constants carry over to hardware they were not tuned on.
- no fitted row beyond 25%: one outlier must not hide behind the median.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "calibration.py"


@pytest.fixture(scope="module")
def calibration():
    spec = importlib.util.spec_from_file_location("calibration", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibration"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("calibration", None)


def test_fitted_rows_median_error_is_within_10_percent(calibration):
    results = calibration.evaluate()
    assert len(results) == 7 and all(r.predicted is not None for r in results)
    assert calibration.median_abs_error(results) <= 0.10
    assert max(abs(r.error) for r in results) <= 0.25


def test_the_split_row_is_predicted_as_a_split(calibration):
    split = [r for r in calibration.evaluate() if "split" in r.row.hardware]
    assert [r.placement for r in split] == ["split"]


def test_held_out_rows_median_error_is_within_12_percent(calibration):
    results = calibration.evaluate(rows=calibration.HELD_OUT)
    assert sum(r.predicted is not None for r in results) >= 25
    assert calibration.median_abs_error(results) <= 0.12


def test_the_script_prints_a_table_and_a_summary(calibration, capsys):
    assert calibration.main() == 0
    out = capsys.readouterr().out
    assert "RTX 4090" in out and "median |error|" in out and "Held out" in out
