"""Which model goes on a host: the ollama_model arguments, and the tag they resolve to there.

``size: auto`` (or a bound like ``max_size``) is answered per host by
deployer.llm from the host's facts and the catalogue; an explicit tag is
still sized, so a tag that cannot fit fails with the reason before anything
is downloaded. A tag the catalogue does not know is pulled unsized; a GGUF
import is never sized.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from pydantic import Field, field_validator, model_validator

from deployer.errors import ModuleFailure
from deployer.facts.model import HostFacts
from deployer.llm.catalog import QUANT_BPP, Catalog, load_catalog
from deployer.llm.select import Decision, Request, parse_request, select
from deployer.modules.base import ModuleArgs
from deployer.ollama.config import DEFAULT_ENDPOINT, SYSTEM_MODELS_DIR
from deployer.ollama.registry import ModelName, human_size

#: the keys of a request to deployer.llm (the module's `name` is the request's `model`)
REQUEST_KEYS = ("size", "max_size", "min_size", "placement", "context", "num_parallel",
                "min_tokens_per_second", "headroom", "precision")


class OllamaModelArgs(ModuleArgs):
    """Arguments of ollama_model (and the keys of a `models:` entry, but for the endpoint ones)."""

    name: str = Field(description="Model family ('deepseek-r1') or family:tag ('deepseek-r1:7b'); for gguf, the new model's name.")
    size: str = Field("auto", description="'auto': the largest tag that fits this host; or a tag such as '7b'.")
    max_size: str | None = Field(None, description="Upper bound for auto, e.g. '32b'.")
    min_size: str | None = Field(None, description="Lower bound for auto, e.g. '7b'.")
    placement: Literal["gpu", "gpu_or_spill", "cpu"] | None = Field(
        None, description="gpu | gpu_or_spill | cpu; unset: gpu on hosts with a GPU, cpu elsewhere.")
    context: int | None = Field(None, gt=0, description="Context length to size the KV cache for (default 8192).")
    num_parallel: int | None = Field(None, gt=0, description="OLLAMA_NUM_PARALLEL to size for (default 1).")
    min_tokens_per_second: float | None = Field(None, gt=0, description="Reject tags predicted slower than this.")
    headroom: dict[str, Any] | None = Field(None, description="Memory kept free per pool: {fraction: 0.1, max_gib: 1}.")
    precision: str | None = Field(None, description="tag (default) | q8_0 | fp16 | a quantization | rule_2bpp.")
    catalog: str | list[str | dict[str, Any]] | dict[str, Any] | None = Field(
        None, description="More catalogue entries: a YAML file (relative to the playbook), a mapping, or a list of them.")
    source: Literal["pull", "bundle"] = Field("pull", description="pull: from the registry, on the host. bundle: an offline bundle pushed from `bundles`.")
    bundles: str = Field("artifacts/bundles", description="Directory of bundles on the control machine (relative to the playbook).")
    fallback_to_bundle: bool = Field(False, description="When the registry is unreachable from the host, push the bundle instead.")
    state: Literal["present", "absent"] = Field("present", description="absent: remove the model (needs a tag).")
    gguf: str | None = Field(None, description="Import this local .gguf file (control machine) as `name` instead of pulling.")
    modelfile: str | None = Field(None, description="Modelfile text for the gguf import (TEMPLATE, SYSTEM, PARAMETER ...).")
    retries: int = Field(3, ge=0, description="Pull attempts after the first one, for failures that may pass.")
    backoff: float = Field(2.0, ge=0, description="Seconds before the first retry; doubles each time.")
    endpoint: str = Field(DEFAULT_ENDPOINT, description="Where Ollama listens on the host (the `ollama:` key's listen).")
    models_dir: str = Field(SYSTEM_MODELS_DIR, description="OLLAMA_MODELS on the host (for bundles and --check).")
    service_user: str | None = Field("ollama", description="Owner of side-loaded files (system mode); null: leave them to the login user.")
    https_proxy: str | None = Field(None, description="The proxy Ollama pulls through (named in messages).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        ModelName.parse(v)
        return v

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        api_address(v)
        return v

    @model_validator(mode="after")
    def _combinations(self) -> "OllamaModelArgs":
        tagged = ":" in self.name.rpartition("/")[2]
        if self.modelfile is not None and self.gguf is None:
            raise ValueError("modelfile goes with gguf (the file it describes)")
        if self.gguf is not None and (self.source == "bundle" or self.fallback_to_bundle):
            raise ValueError("gguf imports a local file: drop source: bundle / fallback_to_bundle")
        if self.gguf is not None and self.size != "auto":
            raise ValueError("a gguf import is not sized: put the tag into name (e.g. name: mymodel:q4)")
        if tagged and self.size not in ("auto", self.name.rpartition(":")[2]):
            raise ValueError(f"name {self.name!r} has a tag and size is {self.size!r}: give one of them")
        if self.state == "absent" and self.size == "auto" and not tagged and self.gguf is None:
            raise ValueError("state: absent needs the tag to remove: size: 7b or name: deepseek-r1:7b")
        return self


def api_address(endpoint: str) -> tuple[str, int]:
    """Where a client on the host reaches an Ollama listening at `endpoint` (host:port)."""
    text = endpoint.removeprefix("http://")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"endpoint must be host:port, got {endpoint!r}")
    host = host.strip("[]") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"  # bound to every address: loopback reaches it
    return host, int(port)


def catalog_sources(args: OllamaModelArgs, resolve: Callable[[str], Path]) -> list[Path | Mapping[str, Any]]:
    """The extra catalogue sources of `args`, paths resolved on the control machine."""
    value = args.catalog
    items = [] if value is None else value if isinstance(value, list) else [value]
    return [resolve(item) if isinstance(item, str) else item for item in items]


def request_of(args: OllamaModelArgs) -> Request:
    data = {k: getattr(args, k) for k in REQUEST_KEYS if getattr(args, k) is not None}
    return parse_request({"model": args.name, **data})


@dataclass
class Target:
    """The model a task puts on (or removes from) one host, and why that one."""

    name: ModelName
    reason: str
    decision: Decision | None = None
    size_bytes: int | None = None

    def report(self) -> dict[str, Any]:
        """What ctx.report() gets: the choice and its numbers."""
        d = self.decision
        tps = None if d is None or d.tokens_per_second is None else round(d.tokens_per_second, 1)
        return {"model": self.name.short, "reason": self.reason, "placement": d.placement if d else None,
                "predicted_tokens_per_second": tps, "memory_gib": d.memory_gib if d else None}

    def vars(self, args: OllamaModelArgs) -> dict[str, Any]:
        """The entry of the host variable `deployer_models` for later tasks (benchmark, Open WebUI)."""
        d = self.decision
        return {**self.report(), "endpoint": args.endpoint, "cpu_share": round(d.cpu_share, 3) if d else None,
                "context": d.context if d else args.context, "num_parallel": d.num_parallel if d else args.num_parallel}

    @property
    def size_text(self) -> str:
        return f" ({human_size(self.size_bytes)})" if self.size_bytes else ""


def resolve(args: OllamaModelArgs, facts: Callable[[], HostFacts], catalog: Catalog) -> Target:
    """The tag for this host; ModuleFailure with the reason when nothing fits here.

    A family the catalogue does not know, or a tag of it the catalogue does not
    list (a quantization variant), is taken as named and not sized; `size: auto`
    needs the family in the catalogue (InputError otherwise).
    """
    parsed = ModelName.parse(args.name)
    if args.gguf is not None:
        return Target(parsed, f"imported from {Path(args.gguf).name}")
    explicit = args.size if args.size != "auto" else (parsed.tag if ":" in args.name.rpartition("/")[2] else None)
    named = ModelName(parsed.model, explicit or parsed.tag, parsed.namespace, parsed.host)
    if args.state == "absent":
        return Target(named, "state: absent")
    family = catalog.families.get(parsed.model) if named.same(ModelName(parsed.model, named.tag)) else None
    if explicit is not None and (family is None or (named.tag not in family.tags and named.tag != "latest")):
        return Target(named, f"{named} is not in the catalogue: pulled as named, not sized")
    request = request_of(args)
    decision = select(facts(), request, catalog)
    if not decision.ok:
        raise ModuleFailure(f"no {request.model} fits: {decision.reason}", data={"reason": decision.reason})
    if decision.pull is None or decision.model is None:
        raise ModuleFailure(
            f"the catalogue has no tag name for {decision.model} in {decision.quantization}",
            hint="add quant_tag to the catalogue entry, or use precision: tag",
        )
    tag = catalog.resolve(decision.model)
    quant = decision.quantization if decision.quantization in QUANT_BPP else "F16"
    return Target(ModelName.parse(decision.pull), decision.reason, decision, tag.size_for(quant))


def load(args: OllamaModelArgs, resolve_path: Callable[[str], Path]) -> Catalog:
    """The shipped catalogue plus the task's `catalog:` sources."""
    return load_catalog(catalog_sources(args, resolve_path))
