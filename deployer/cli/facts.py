"""`deployer facts`: what each host has (CPU, RAM, GPUs/VRAM, disk, bandwidth)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from deployer.cli import Env, Exit, cli
from deployer.cli._common import inventory_option, limit_option, resolve_limit
from deployer.errors import DeployerError, ExitStatus
from deployer.facts.collect import collect
from deployer.facts.model import HostFacts
from deployer.inventory import load_inventory
from deployer.output import Output
from deployer.targets import ConnectOptions

GIB = 1024**3


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / GIB:.1f} GiB"


def show_facts(out: Output, name: str, f: HostFacts) -> None:
    """A table of one host's facts on stderr."""
    cpu = f.cpu
    numa = f"{len(cpu.numa_nodes)} NUMA nodes" if cpu.numa_nodes else "no NUMA info"
    rows = [
        ("host", f"{f.hostname} ({f.os.pretty_name or f.os.id or '?'}, kernel {f.os.kernel or '?'}, glibc {f.os.glibc or '?'})"),
        ("cpu", f"{cpu.model} | {cpu.sockets} socket(s), {cpu.cores or '?'} cores, {cpu.threads or '?'} threads, {numa}, {f.arch}"),
        ("isa", ", ".join(cpu.flags) or "-"),
        ("memory", f"{_gib(f.memory.total_bytes)} total, {_gib(f.memory.available_bytes)} available"
         + (f", cgroup limit {_gib(f.memory.cgroup_limit_bytes)}" if f.memory.cgroup_limit_bytes else "")),
    ]
    for g in f.gpus:
        bw = f", {g.bandwidth_gbs:.0f} GB/s" if g.bandwidth_gbs else ""
        rows.append((f"gpu {g.index}", f"{g.name} | {_gib(g.memory_total_bytes)} VRAM ({_gib(g.memory_free_bytes)} free){bw}, driver {g.driver or '?'}"))
    if not f.gpus:
        rows.append(("gpu", "none found"))
    bw = f.bandwidth
    rows.append(("bandwidth", f"CPU {bw.cpu_gbs:.0f} GB/s ({bw.cpu_source}: {bw.cpu_detail or '-'})" if bw.cpu_gbs else f"CPU unknown ({bw.cpu_source})"))
    for d in f.disks:
        rows.append((f"disk {d.path}", f"{_gib(d.free_bytes)} free of {_gib(d.total_bytes)} ({d.mount or '?'})"))
    sw = f.software
    rows.append(("software", f"systemd {'yes' if f.os.systemd else 'no'}, docker {sw.docker_version or 'no'}"
                 f"{' (usable)' if sw.docker_usable else ''}, ollama {sw.ollama_version or 'no'}, sudo {'yes' if sw.sudo else 'no'}"))
    for k, v in sorted(f.env.items()):
        rows.append((k, v))
    for n in f.notes:
        rows.append(("note", n))
    out.table(f"{name}", ["fact", "value"], rows)


@cli.command()
@inventory_option()
@limit_option
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON on stdout.")
@click.option("-o", "--output", "output_file", type=click.Path(dir_okay=False), help="Write the facts to this JSON file (for run --facts, recommend --facts).")
@click.option("--path", "paths", multiple=True, metavar="DIR", help="Also report free space at DIR (models dir, install prefix). Repeatable.")
@click.option("--measure-bandwidth", is_flag=True, help="Measure CPU memory bandwidth on each host (~2 s, needs python3 there).")
@click.option("-f", "--forks", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--ssh-accept-new", is_flag=True, help="Accept and record host keys never seen before.")
@click.option("--timeout", default=10.0, show_default=True, help="SSH connect timeout, seconds.")
@click.pass_obj
def facts(env: Env, inventories, limit, as_json, output_file, paths, measure_bandwidth, forks, ssh_accept_new, timeout) -> None:
    """Gather hardware facts from the hosts: one SSH round trip each."""
    out = env.output()
    inv = load_inventory(list(inventories))
    names = inv.select(resolve_limit(limit) or "all")
    results = collect(inv, names, ConnectOptions(accept_new_host_keys=ssh_accept_new, connect_timeout=timeout), forks, paths, measure_bandwidth)
    good = {n: r for n, r in results.items() if isinstance(r, HostFacts)}
    bad = {n: r for n, r in results.items() if isinstance(r, DeployerError)}
    if not as_json:
        for n, f in good.items():
            show_facts(out, n, f)
    for n, err in bad.items():
        out.error(f"{n}: {err}")
    data = {"hosts": {n: f.model_dump(mode="json") for n, f in good.items()}, "errors": {n: str(e) for n, e in bad.items()}}
    if output_file:
        Path(output_file).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        out.info(f"facts of {len(good)} hosts written to {output_file}")
    if as_json:
        out.json(data)
    if bad:
        raise Exit(ExitStatus.UNREACHABLE)
