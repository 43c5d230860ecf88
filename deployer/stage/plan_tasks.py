"""One rendered task -> the needs of its host (see plan.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from deployer.errors import DeployerError
from deployer.facts.model import HostFacts
from deployer.llm.select import candidates_for
from deployer.llm.sizing import weights_for
from deployer.modules.base import FactsProvider, TaskContext
from deployer.ollama import sources
from deployer.ollama.args import ConfigArgs
from deployer.ollama.config import OllamaSource
from deployer.ollama.models import OllamaModelArgs, load, request_of, resolve
from deployer.ollama.registry import ModelName
from deployer.ollama.release import normalize_version
from deployer.openwebui.config import OpenWebUIArgs
from deployer.stage.plan import HostPlan, ImageNeed, ModelNeed, ReleaseNeed, WheelNeed
from deployer.stage.releases import ReleaseItem


class NoFacts(DeployerError):
    """A host whose facts are needed and unknown."""


def _facts(hp: HostPlan) -> HostFacts:
    if hp.facts is None:
        raise NoFacts("its facts are unknown (unreachable, and not in the facts file)")
    return hp.facts


def _ctx(hp: HostPlan, variables: Mapping[str, Any], base_dir: Path) -> TaskContext:
    provider = FactsProvider(lambda: _facts(hp), hp.facts)
    return TaskContext(host=hp.host, connection=None, vars=variables, check_mode=True, base_dir=base_dir,
                       facts_provider=provider)


def add_needs(hp: HostPlan, action: str, args: Any, variables: Mapping[str, Any], base_dir: Path, all_candidates: bool) -> None:
    """Add what `args` of `action` (validated) needs on hp's host."""
    ctx = _ctx(hp, variables, base_dir)
    if action == "ollama_install":
        _install(hp, ctx, args)
    elif action == "ollama_service":
        hp.add(hp.services, args.config())
    elif action == "ollama_model":
        _model(hp, ctx, args, all_candidates)
    elif action == "open_webui":
        _frontend(hp, ctx, args)
    hp.warnings.extend(w for w in ctx.warnings if w not in hp.warnings)


def _install(hp: HostPlan, ctx: TaskContext, args: ConfigArgs) -> None:
    cfg = args.config()
    hp.add(hp.installs, cfg)
    if cfg.rollback:
        return  # switches to a version the host has
    version = normalize_version(cfg.version)
    facts = _facts(hp)
    upstream = sources.choose(ctx, OllamaSource(online=True, url=cfg.source.url), version, facts)
    local: dict[str, Path | None] = {}
    sums = None
    if not cfg.source.online:
        local = {b.variant: b.path for b in sources.choose(ctx, cfg.source, version, facts)}
        sums = ctx.local_path(cfg.source.sha256sums) if cfg.source.sha256sums else None
    for b in upstream:
        if not cfg.source.online and b.variant not in local:
            hp.warnings.append(f"AMD GPUs seen on {hp.host}, but the play's source has no rocm_tarball: "
                               f"{b.name} is staged, and the run installs without it")
        item = ReleaseItem(version, b.name, b.arch or "", b.variant)
        hp.add(hp.releases, ReleaseNeed(item, cfg.source.url, local.get(b.variant), sums))


def _model(hp: HostPlan, ctx: TaskContext, args: OllamaModelArgs, all_candidates: bool) -> None:
    hp.add(hp.models_dirs, args.models_dir)
    hp.pulls = hp.pulls or (args.state == "present" and args.gguf is None and (args.source == "pull" or args.fallback_to_bundle))
    if args.gguf is not None or args.state == "absent":
        return  # a local file, or nothing to fetch
    bundles = ctx.local_path(args.bundles)
    catalog = load(args, ctx.local_path)
    names: list[tuple[ModelName, str, int | None]] = []
    if all_candidates and args.size == "auto" and ":" not in args.name.rpartition("/")[2]:
        request = request_of(args)
        for tag in candidates_for(request, catalog):
            w = weights_for(tag, request.precision)
            if w.pull_name is None:
                hp.warnings.append(f"{tag.name}: the catalogue has no tag name for it in {w.quantization}: not staged")
                continue
            names.append((ModelName.parse(w.pull_name), f"a candidate of {args.name} (size: auto)", w.bytes))
    else:
        target = resolve(args, lambda: _facts(hp), catalog)
        names.append((target.name, target.reason, target.size_bytes))
    for name, reason, size in names:
        hp.add(hp.models, ModelNeed(name, args.source, bundles, args.fallback_to_bundle, reason, size, args.models_dir))


def _frontend(hp: HostPlan, ctx: TaskContext, args: OpenWebUIArgs) -> None:
    hp.add(hp.frontends, args)
    if args.mode == "docker":
        tarball = ctx.local_path(args.image_tarball) if args.image_tarball else None
        hp.add(hp.images, ImageNeed(args.image_ref, tarball))
        return
    facts = _facts(hp)
    house = ctx.local_path(args.wheelhouse) if args.wheelhouse else None
    hp.add(hp.wheels, WheelNeed(args.version, facts.arch, facts.os.glibc, house))
