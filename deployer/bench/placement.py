"""Where a loaded model sits, read from Ollama's ``GET /api/ps``.

Each loaded model reports ``size`` (bytes it occupies) and ``size_vram`` (the
part in GPU memory); the CPU share is ``(size - size_vram) / size``. The label
is the one ``ollama ps`` prints (cmd/cmd.go ListRunningHandler): ``100% CPU``
when nothing is in VRAM, ``100% GPU`` when all is, ``Unknown`` when the numbers
make no sense, else ``48%/52% CPU/GPU`` with the CPU share rounded. Older servers
(< 0.10) do not report ``context_length``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

_REGISTRY_PREFIX = "registry.ollama.ai/library/"


def canonical_name(name: str) -> str:
    """Ollama's short form of a model name: 'llama3' -> 'llama3:latest', registry prefix dropped."""
    name = name.strip()
    if name.startswith(_REGISTRY_PREFIX):
        name = name[len(_REGISTRY_PREFIX) :]
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


@dataclass(frozen=True)
class Placement:
    """One loaded model as /api/ps reports it."""

    name: str
    size: int
    size_vram: int
    context_length: int | None = None

    @property
    def cpu_share(self) -> float | None:
        """Share of the model in system RAM (0.0 = all on GPU); None when unknown."""
        if self.size <= 0 or self.size_vram > self.size:
            return None
        return (self.size - self.size_vram) / self.size

    @property
    def kind(self) -> str:
        """'gpu', 'split', 'cpu' (the planner's words) or 'unknown'."""
        share = self.cpu_share
        if share is None:
            return "unknown"
        if share == 0.0:
            return "gpu"
        return "cpu" if self.size_vram == 0 else "split"

    @property
    def label(self) -> str:
        """What `ollama ps` shows in its PROCESSOR column."""
        if self.size_vram == 0:
            return "100% CPU"
        if self.size_vram == self.size:
            return "100% GPU"
        if self.size_vram > self.size or self.size == 0:
            return "Unknown"
        cpu = round((self.size - self.size_vram) / self.size * 100)
        return f"{cpu}%/{100 - cpu}% CPU/GPU"

    def to_data(self) -> dict[str, Any]:
        share = self.cpu_share
        return {
            "label": self.label,
            "kind": self.kind,
            "cpu_share": None if share is None else round(share, 4),
            "size": self.size,
            "size_vram": self.size_vram,
            "context_length": self.context_length,
        }


def parse_ps_entry(entry: Mapping[str, Any]) -> Placement:
    """A Placement from one element of /api/ps's ``models`` list."""
    name = str(entry.get("name") or entry.get("model") or "")
    ctx = entry.get("context_length")
    return Placement(
        name=name,
        size=int(entry.get("size") or 0),
        size_vram=int(entry.get("size_vram") or 0),
        context_length=int(ctx) if isinstance(ctx, (int, float)) and ctx > 0 else None,
    )


def find_loaded(models: Iterable[Mapping[str, Any]], model: str) -> Placement | None:
    """The /api/ps entry of `model` (names compared in Ollama's short form), or None."""
    want = canonical_name(model)
    for entry in models:
        names = {canonical_name(str(entry.get(k))) for k in ("name", "model") if entry.get(k)}
        if want in names:
            return parse_ps_entry(entry)
    return None
