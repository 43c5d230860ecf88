"""`deployer recommend`: which model fits each host, how fast, and why."""

from __future__ import annotations

import click

from deployer.cli import Env, Exit, cli
from deployer.cli._common import inventory_option, limit_option, load_facts_file, resolve_limit
from deployer.errors import DeployerError, ExitStatus, UsageError
from deployer.facts.collect import collect
from deployer.facts.model import HostFacts
from deployer.inventory import load_inventory
from deployer.llm.catalog import load_catalog
from deployer.llm.select import Decision, parse_request, recommend as plan
from deployer.llm.spec import parse_hardware_spec
from deployer.targets import ConnectOptions

DEFAULT_MODELS = ("deepseek-r1", "qwen3", "llama3.1", "gemma3")


@cli.command()
@inventory_option(required=False)
@limit_option
@click.option("-m", "--model", "models", multiple=True, metavar="NAME", help=f"Model family or tag (repeatable; default: {', '.join(DEFAULT_MODELS)}).")
@click.option("--size", default="auto", show_default=True, help="'auto' (largest that fits) or a tag such as 14b.")
@click.option("--max-size", help="Upper bound for auto, e.g. 32b.")
@click.option("--placement", type=click.Choice(["gpu", "gpu_or_spill", "cpu"]), help="Default: gpu where a GPU is, else cpu.")
@click.option("--context", default=8192, show_default=True, type=click.IntRange(256), help="Context length to size the KV cache for.")
@click.option("--parallel", default=1, show_default=True, type=click.IntRange(1), help="OLLAMA_NUM_PARALLEL.")
@click.option("--min-tps", type=float, help="Only models that reach this many tokens/s.")
@click.option("--precision", default="tag", show_default=True, help="tag | q8_0 | fp16 | rule_2bpp (the '2 bytes per parameter' rule).")
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(dir_okay=False), help="Extra catalogue YAML (adds or overrides models).")
@click.option("--facts", "facts_file", type=click.Path(dir_okay=False), help="Use a `deployer facts -o` file instead of contacting hosts.")
@click.option("--hardware", "specs", multiple=True, metavar="SPEC", help="A machine you describe: 'gpu=2xA100 80GB,ram=512' (repeatable).")
@click.option("--measure-bandwidth", is_flag=True, help="Measure CPU memory bandwidth on each host (~2 s, needs python3 there).")
@click.option("--json", "as_json", is_flag=True, help="Print a list of decisions as JSON on stdout.")
@click.option("-v", "--verbose", count=True, help="Also show the candidates considered and why they were rejected.")
@click.pass_obj
def recommend(env: Env, inventories, limit, models, size, max_size, placement, context, parallel, min_tps, precision, catalogs, facts_file, specs, measure_bandwidth, as_json, verbose) -> None:
    """Which model size fits each host, the memory it needs and the speed to expect."""
    out = env.output()
    if size != "auto" and len(models) != 1:
        raise UsageError("--size needs exactly one --model")
    hosts: dict[str, HostFacts] = {}
    errors: dict[str, str] = {}
    for i, spec in enumerate(specs, 1):
        name = f"spec{i}" if len(specs) > 1 else "spec"
        hosts[name] = parse_hardware_spec(spec, hostname=name)
    if facts_file:
        hosts.update(load_facts_file(facts_file))
    if inventories:
        inv = load_inventory(list(inventories))
        names = inv.select(resolve_limit(limit) or "all")
        for n, r in collect(inv, names, ConnectOptions(), measure_bandwidth=measure_bandwidth).items():
            if isinstance(r, DeployerError):
                errors[n] = str(r)
            else:
                hosts[n] = r
    elif limit and facts_file:
        hosts = {n: f for n, f in hosts.items() if n in resolve_limit(limit).split(",")}
    if not hosts and not errors:
        raise UsageError("nothing to size: give -i INVENTORY, --facts FILE or --hardware SPEC")
    catalog = load_catalog(list(catalogs))
    requests = [
        parse_request({k: v for k, v in {
            "model": m, "size": size, "max_size": max_size, "placement": placement, "context": context,
            "num_parallel": parallel, "min_tokens_per_second": min_tps, "precision": precision,
        }.items() if v is not None})
        for m in (models or DEFAULT_MODELS)
    ]  # fmt: skip
    decisions: list[Decision] = []
    for name, facts in hosts.items():
        for d in plan(facts, requests, catalog):
            d.host = name
            decisions.append(d)
    if as_json:
        out.json([d.to_json() for d in decisions] + [{"host": n, "ok": False, "error": e} for n, e in errors.items()])
    else:
        _table(env, decisions, verbose)
    for n, e in errors.items():
        out.error(f"{n}: {e}")
    if errors:
        raise Exit(ExitStatus.UNREACHABLE)


def _table(env: Env, decisions: list[Decision], verbose: int) -> None:
    out = env.output()
    by_host: dict[str, list[Decision]] = {}
    for d in decisions:
        by_host.setdefault(d.host, []).append(d)
    for host, ds in by_host.items():
        rows = []
        for d in ds:
            tps = f"~{d.tokens_per_second:.0f}" if d.tokens_per_second else "?"
            mem = f"{d.memory_gib:.1f}" if d.memory_gib else "-"
            rows.append((d.model or f"{d.request}: none", d.placement, mem, tps, d.reason))
            if verbose:
                for c in d.candidates:
                    rows.append((f"  {c.model}", c.placement, f"{c.total_gib:.1f}", "-" if c.tokens_per_second is None else f"~{c.tokens_per_second:.0f}", c.reason))
        out.table(host, ["model", "placement", "GiB", "tok/s", "why"], rows)
