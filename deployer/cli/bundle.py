"""`deployer bundle create|inspect`: offline model bundles (see deployer/ollama/bundle.py)."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.cli import Env, Exit, cli
from deployer.errors import ExitStatus, InputError, UsageError
from deployer.ollama.bundle import Bundle, create_from_store, default_models_dir, find_bundles
from deployer.ollama.registry import ModelName, human_size


@cli.group()
def bundle() -> None:
    """Offline model bundles: a model's manifest and exactly its blobs, for hosts without internet."""


@bundle.command()
@click.argument("models", nargs=-1, required=True, metavar="MODEL:TAG...")
@click.option("--models-dir", type=click.Path(file_okay=False), help="The Ollama store to read (default: $OLLAMA_MODELS, else ~/.ollama/models).")
@click.option("-o", "--output", default="artifacts/bundles", show_default=True, type=click.Path(file_okay=False), help="Bundles directory to write into.")
@click.option("--json", "as_json", is_flag=True, help="Describe the bundles made on stdout.")
@click.pass_obj
def create(env: Env, models: tuple[str, ...], models_dir: str | None, output: str, as_json: bool) -> None:
    """Bundle MODEL:TAG from a local Ollama store, verifying every blob's sha256.

    Copy the bundles directory to the control machine and use `source: bundle`
    (or `fallback_to_bundle: true`) in the play's `models:`.
    """
    out = env.output()
    store = Path(models_dir).expanduser() if models_dir else default_models_dir(env.environ)
    names = []
    for text in models:
        try:
            names.append(ModelName.parse(text))
        except ValueError as exc:
            raise UsageError(str(exc), hint="e.g. deepseek-r1:7b")
    made = []
    for name in names:
        out.info(f"bundling {name} from {store} ...")
        b = create_from_store(store, name, Path(output))
        out.info(f"{b.path}: {b.describe()}, manifest {b.info.manifest_digest[:19]}")
        made.append(_describe(b))
    if as_json:
        out.json(made)


@bundle.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--verify", is_flag=True, help="Also check every blob's sha256 (reads all the data).")
@click.option("--json", "as_json", is_flag=True, help="Describe the bundles on stdout.")
@click.pass_obj
def inspect(env: Env, path: str, verify: bool, as_json: bool) -> None:
    """List what the bundle at PATH holds (PATH may also be a directory of bundles)."""
    out = env.output()
    dirs = find_bundles(path)
    if not dirs:
        raise InputError(f"no bundles at or below {path}", hint="bundles are made with `deployer bundle create MODEL:TAG`")
    described, bad = [], 0
    for d in dirs:
        try:
            b = Bundle.open(d)
            if verify:
                b.verify()
        except InputError as exc:
            out.error(str(exc))
            bad += 1
            continue
        described.append(_describe(b) | ({"verified": True} if verify else {}))
        out.table(
            f"{b.name}  ({human_size(b.total_size)}, created {b.info.created}, from {b.info.source})",
            ["kind", "digest", "size"],
            [(blob.layer.kind, blob.digest[:19], human_size(blob.size)) for blob in b.blobs],
            caption=f"{b.path}" + ("  - every blob verified" if verify else ""),
        )
    if as_json:
        out.json(described)
    if bad:
        raise Exit(ExitStatus.BAD_INPUT)


def _describe(b: Bundle) -> dict:
    return {
        "path": str(b.path), "model": b.name.short, **b.info.model_dump(),
        "blobs": [{"digest": x.digest, "size": x.size, "kind": x.layer.kind} for x in b.blobs],
    }
