"""Playbooks, inventory and facts for planning, loaded as `deployer run` loads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from deployer import playbook as pbmod
from deployer import validate as validation
from deployer.errors import DeployerError
from deployer.facts.collect import collect
from deployer.facts.model import HostFacts
from deployer.inventory import Inventory, load_inventory
from deployer.playbook import Playbook
from deployer.targets import ConnectOptions


@dataclass
class Inputs:
    """What planning works from."""

    books: list[Playbook]
    inventory: Inventory
    extra_vars: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def load(playbooks: Sequence[str], inventories: Sequence[str], extra_vars: dict[str, Any], limit: str | None) -> Inputs:
    """Load and validate (InputError before anything is contacted), as `deployer run` does."""
    vars_dirs = list(dict.fromkeys(Path(p).resolve().parent for p in playbooks))
    inventory = load_inventory(list(inventories) if inventories else ["localhost,"], vars_dirs=vars_dirs)
    books = [pbmod.load(p, extra_vars) for p in playbooks]
    warnings = validation.check(books, inventory, extra_vars, limit)
    return Inputs(books, inventory, extra_vars, list(warnings))


def gather(inventory: Inventory, names: Sequence[str], connect: ConnectOptions, forks: int,
           preset: dict[str, HostFacts] | None) -> tuple[dict[str, HostFacts], dict[str, str]]:
    """(facts, why not) per host: from `preset` (a facts file: nobody is contacted) or a live probe."""
    if preset is not None:
        missing = {n: "not in the facts file (write it with `deployer facts -o FILE` where the hosts are reachable)"
                   for n in names if n not in preset}
        return {n: preset[n] for n in names if n in preset}, missing
    if not names:
        return {}, {}
    facts: dict[str, HostFacts] = {}
    errors: dict[str, str] = {}
    for name, result in collect(inventory, list(names), connect, forks).items():
        if isinstance(result, DeployerError):
            errors[name] = f"{result} - from a machine that reaches the hosts, `deployer facts -o FILE`, then --facts FILE"
        else:
            facts[name] = result
    return facts, errors
