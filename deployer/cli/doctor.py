"""`deployer doctor`: pre-flight checks per host, with a verdict and a fix for each."""

from __future__ import annotations

from functools import partial

import click

from deployer.cli import Env, Exit, cli
from deployer.cli._common import extra_vars_option, inventory_option, limit_option, parse_extra_vars, resolve_limit
from deployer.doctor.run import Options, doctor as run_doctor
from deployer.doctor.verdict import HostReport, exit_status
from deployer.output import Output
from deployer.stage import inputs, plan as planning
from deployer.stage.models import DEFAULT_URL as REGISTRY_URL
from deployer.targets import ConnectOptions

MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "-"}


@cli.command()
@click.argument("playbooks", nargs=-1, type=click.Path(dir_okay=False))
@inventory_option()
@extra_vars_option
@limit_option
@click.option("--registry-url", default=REGISTRY_URL, show_default=True, help="The registry the hosts would pull from.")
@click.option("-f", "--forks", default=10, show_default=True, type=click.IntRange(1, 1000), help="Hosts checked at once.")
@click.option("-K", "--ask-become-pass", is_flag=True, help="Ask for the sudo password, to check that sudo takes it (never printed).")
@click.option("--ssh-accept-new", is_flag=True, help="Accept and record host keys never seen before.")
@click.option("-F", "--ssh-config", type=click.Path(dir_okay=False), help="ssh_config file for host aliases and ProxyJump.")
@click.option("--timeout", default=10.0, show_default=True, help="SSH connect timeout, seconds.")
@click.option("--json", "as_json", is_flag=True, help="Write the verdicts as JSON on stdout.")
@click.pass_obj
def doctor(env: Env, playbooks, inventories, extra_vars, limit, registry_url, forks, ask_become_pass, ssh_accept_new,
           ssh_config, timeout, as_json) -> None:
    """Check each host before a rollout: a verdict (ok / warn / fail) and a fix per check.

    Reachable (through the jump host), host key, sudo (or mode: user), arch and
    glibc, systemd, free space, GPU driver, the ROCR_VISIBLE_DEVICES trap, docker,
    ports, the registry from the host (or staged bundles), and - with PLAYBOOKS -
    the artefacts the run will read. Exit 0: nothing blocks; 4: something does;
    5: hosts unreachable.
    """
    out = env.output()
    limit = resolve_limit(limit)
    connect = ConnectOptions(accept_new_host_keys=ssh_accept_new, connect_timeout=timeout, ssh_config_file=ssh_config,
                             become_password=env.getpass("BECOME password: ") if ask_become_pass else None)
    loaded = inputs.load(playbooks, inventories, parse_extra_vars(extra_vars), limit)
    for w in loaded.warnings:
        out.warn(w)
    if playbooks:
        names = planning.targeted(loaded.books, loaded.inventory, limit)
        planner = partial(planning.make_plan, loaded.books, loaded.inventory, loaded.extra_vars, limit=limit, connect=connect)
    else:
        names = loaded.inventory.select(limit or "all")
        planner = None
    if not names:
        out.warn("no hosts to check" + (" (the playbooks install nothing deployer stages)" if playbooks else ""))
        raise Exit(exit_status([]))
    reports, _ = run_doctor(loaded.inventory, names, planner,
                            Options(connect, registry_url, forks))
    if as_json:
        out.json({"hosts": {r.host: r.to_json() for r in reports}, "exit": int(exit_status(reports))})
    else:
        _show(out, reports)
    raise Exit(exit_status(reports))


def _show(out: Output, reports: list[HostReport]) -> None:
    for r in reports:
        rows = [(v.check, MARKS[v.status], v.detail, v.fix or "") for v in r.ordered()]
        out.table(f"{r.host}: {MARKS[r.worst] if r.reachable else 'UNREACHABLE'}", ["check", "verdict", "found", "fix"], rows)
    blocked = [r.host for r in reports if r.reachable and r.failed]
    gone = [r.host for r in reports if not r.reachable]
    if blocked:
        out.error(f"blocks the rollout on: {', '.join(blocked)}")
    if gone:
        out.error(f"unreachable: {', '.join(gone)}")
    if not blocked and not gone:
        out.info(f"nothing blocks the rollout on {len(reports)} host{'s' if len(reports) != 1 else ''}")
