"""`deployer modules`: the modules a task can use, and their arguments."""

from __future__ import annotations

import click

from deployer import modules as registry
from deployer.cli import Env, cli
from deployer.errors import UsageError, did_you_mean
from deployer.playbook import stack_keys


@cli.command(name="modules")
@click.argument("name", required=False)
@click.pass_obj
def modules_cmd(env: Env, name: str | None) -> None:
    """List modules, or show one module's arguments."""
    out = env.output()
    if name is None:
        rows = []
        seen = set()
        for key in registry.names():
            cls = registry.lookup(key)
            if cls is None or cls in seen:
                continue
            seen.add(cls)
            aliases = f" (also {', '.join(cls.aliases)})" if cls.aliases else ""
            rows.append((cls.name + aliases, (cls.__doc__ or "").strip().splitlines()[0]))
        out.table("modules", ["module", "what it does"], rows)
        out.info("play-level stack keys: " + ", ".join(stack_keys()))
        return
    cls = registry.lookup(name)
    if cls is None:
        raise UsageError(f"no module named {name!r}", hint=did_you_mean(name, set(registry.names())))
    out.info(f"{cls.name}: {(cls.__doc__ or '').strip()}")
    rows = []
    for field_name, f in cls.Args.model_fields.items():
        alias = f" (alias {f.alias})" if f.alias and f.alias != field_name else ""
        default = "required" if f.is_required() else repr(f.default if f.default_factory is None else f.default_factory())
        rows.append((field_name + alias, default, f.description or ""))
    out.table(f"{cls.name} arguments", ["argument", "default", "meaning"], rows)
