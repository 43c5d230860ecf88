"""`deployer inventory`: what ansible-inventory shows, for deployer's inventory loader."""

from __future__ import annotations

import json

import click

from deployer.cli import Env, cli
from deployer.cli._common import inventory_option
from deployer.errors import UsageError
from deployer.inventory import load_inventory


@cli.command()
@inventory_option()
@click.option("--list", "as_list", is_flag=True, help="All groups and hosts, shaped like `ansible-inventory --list`.")
@click.option("--host", "host", metavar="NAME", help="One host's merged variables.")
@click.option("--export", is_flag=True, help="With --list: group vars stay on their groups (as ansible-inventory --export).")
@click.option("--graph", is_flag=True, help="The group tree with its hosts.")
@click.pass_obj
def inventory(env: Env, inventories: tuple[str, ...], as_list: bool, host: str | None, export: bool, graph: bool) -> None:
    """Show the inventory as deployer reads it (no host is contacted)."""
    if sum(map(bool, (as_list, host, graph))) != 1:
        raise UsageError("give exactly one of --list, --host NAME, --graph")
    inv = load_inventory(list(inventories))
    out = env.output()
    if as_list:
        out.text(json.dumps(inv.to_ansible_list(export=export), sort_keys=True, indent=4))
    elif host:
        out.text(json.dumps(inv.host_json(host), sort_keys=True, indent=4))
    else:
        lines: list[str] = []
        _graph(inv, "all", 0, lines)
        out.text("\n".join(lines))


def _graph(inv, name: str, depth: int, lines: list[str]) -> None:
    pad = "  |" * depth
    lines.append(f"{pad}--@{name}:" if depth else f"@{name}:")
    group = inv.groups[name]
    for child in group.children:
        _graph(inv, child, depth + 1, lines)
    for h in group.hosts:
        lines.append(f"{pad}  |--{h}")
