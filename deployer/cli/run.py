"""`deployer run` and `deployer validate`."""

from __future__ import annotations

from pathlib import Path

import click

from deployer import playbook as pbmod
from deployer import validate as validation
from deployer.cli import Env, Exit, cli
from deployer.cli._common import (
    extra_vars_option,
    inventory_option,
    limit_option,
    load_facts_file,
    parse_extra_vars,
    resolve_limit,
)
from deployer.errors import ExitStatus, UsageError
from deployer.executor import Executor, RunOptions
from deployer.inventory import load_inventory
from deployer.output import Output, RunPrinter
from deployer.results import Redactor, RunReport
from deployer.targets import ConnectOptions


def _load_all(playbooks: tuple[str, ...], inventories: tuple[str, ...], extra: tuple[str, ...], limit: str | None):
    extra_vars = parse_extra_vars(extra)
    # group_vars/ and host_vars/ beside the playbooks apply too, as in Ansible
    vars_dirs = list(dict.fromkeys(Path(p).resolve().parent for p in playbooks))
    inventory = load_inventory(list(inventories) if inventories else ["localhost,"], vars_dirs=vars_dirs)
    books = [pbmod.load(p, extra_vars) for p in playbooks]
    warnings = validation.check(books, inventory, extra_vars, limit)
    return books, inventory, extra_vars, warnings


@cli.command()
@click.argument("playbooks", nargs=-1, required=True, type=click.Path(dir_okay=False))
@inventory_option(required=False)
@extra_vars_option
@click.pass_obj
def validate(env: Env, playbooks: tuple[str, ...], inventories: tuple[str, ...], extra_vars: tuple[str, ...]) -> None:
    """Check playbooks (and the inventory) without connecting to anything."""
    out = env.output()
    books, inventory, _, warnings = _load_all(playbooks, inventories, extra_vars, None)
    for w in warnings:
        out.warn(w)
    for b in books:
        ntasks = sum(len(p.tasks) + len(p.handlers) for p in b.plays)
        out.info(f"{b.path}: ok ({len(b.plays)} plays, {ntasks} tasks, {len(inventory.hosts)} inventory hosts)")


@cli.command()
@click.argument("playbooks", nargs=-1, required=True, type=click.Path(dir_okay=False))
@inventory_option(required=False)
@extra_vars_option
@limit_option
@click.option("-C", "--check", is_flag=True, help="Say what would change; change nothing (a run() on a host is impossible).")
@click.option("-D", "--diff", is_flag=True, help="Show before/after of files, units, env drop-ins, container config.")
@click.option("-t", "--tags", multiple=True, metavar="TAGS", help="Only tasks with these tags (comma-separated, repeatable).")
@click.option("--skip-tags", multiple=True, metavar="TAGS", help="Skip tasks with these tags.")
@click.option("-f", "--forks", default=10, show_default=True, type=click.IntRange(1, 1000), help="Hosts worked on at once.")
@click.option("--json", "as_json", is_flag=True, help="Write a machine-readable report on stdout.")
@click.option("-v", "--verbose", count=True, help="Show task results' data (-v), more with -vv.")
@click.option("--list-hosts", is_flag=True, help="List the hosts each play targets; run nothing.")
@click.option("--list-tasks", is_flag=True, help="List the tasks of each play; run nothing.")
@click.option("--syntax-check", is_flag=True, help="Validate and stop.")
@click.option("-K", "--ask-become-pass", is_flag=True, help="Ask for the sudo password (never printed).")
@click.option("--ssh-accept-new", is_flag=True, help="Accept and record host keys never seen before (never changed ones).")
@click.option("-F", "--ssh-config", type=click.Path(dir_okay=False), help="ssh_config file for host aliases and ProxyJump.")
@click.option("--timeout", default=10.0, show_default=True, help="SSH connect timeout, seconds.")
@click.option("--facts", "facts_file", type=click.Path(dir_okay=False), help="Plan from a `deployer facts -o` file (with --check): hosts are not contacted.")
@click.option("--retry-file", type=click.Path(dir_okay=False), help="Write failed/unreachable hosts here (rerun with --limit @FILE).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), help="Write the fleet report: DIR/report.json and DIR/report.html.")
@click.pass_obj
def run(
    env: Env,
    playbooks: tuple[str, ...],
    inventories: tuple[str, ...],
    extra_vars: tuple[str, ...],
    limit: str | None,
    check: bool,
    diff: bool,
    tags: tuple[str, ...],
    skip_tags: tuple[str, ...],
    forks: int,
    as_json: bool,
    verbose: int,
    list_hosts: bool,
    list_tasks: bool,
    syntax_check: bool,
    ask_become_pass: bool,
    ssh_accept_new: bool,
    ssh_config: str | None,
    timeout: float,
    facts_file: str | None,
    retry_file: str | None,
    report_dir: str | None,
) -> None:
    """Run PLAYBOOKS against the inventory's hosts."""
    out = env.output()
    if facts_file and not check:
        raise UsageError("--facts plans without contacting hosts, so it needs --check")
    limit = resolve_limit(limit)
    books, inventory, extra, warnings = _load_all(playbooks, inventories, extra_vars, limit)
    for w in warnings:
        out.warn(w)
    if syntax_check:
        for b in books:
            out.info(f"playbook: {b.path}: syntax ok")
        return
    if list_hosts or list_tasks:
        _list(out, books, inventory, limit, list_hosts, list_tasks)
        return
    options = RunOptions(
        check=check,
        diff=diff,
        forks=forks,
        limit=limit,
        tags=_split(tags),
        skip_tags=_split(skip_tags),
        extra_vars=extra,
        connect=ConnectOptions(
            accept_new_host_keys=ssh_accept_new,
            connect_timeout=timeout,
            ssh_config_file=ssh_config,
            become_password=env.getpass("BECOME password: ") if ask_become_pass else None,
        ),
        preset_facts=load_facts_file(facts_file) if facts_file else None,
        verbosity=verbose,
    )
    from deployer.facts.probe import gather

    redactor = Redactor()
    printer = RunPrinter(out, redactor, verbosity=verbose, diff=diff)
    executor = Executor(books, inventory, options, printer, gather, redactor)
    report = executor.run()
    printer.recap(report)
    if report_dir:
        from deployer.cli.bench import emit_fleet_report  # bench imports this module

        emit_fleet_report(out, Path(report_dir), report, redactor, executor)
    if retry_file:
        _write_retry(Path(retry_file), report, out)
    if as_json:
        out.json(report.to_json(redactor))
    raise Exit(exit_status(report))


def exit_status(report: RunReport) -> ExitStatus:
    if report.interrupted:
        return ExitStatus.INTERRUPTED
    # a play stopped early (max_fail_percentage, any_errors_fatal) left the others unfinished
    if report.failed_hosts or report.aborted:
        return ExitStatus.HOST_FAILED
    if report.unreachable_hosts:
        return ExitStatus.UNREACHABLE
    return ExitStatus.OK


def _split(values: tuple[str, ...]) -> set[str]:
    return {t.strip() for v in values for t in v.split(",") if t.strip()}


def _write_retry(path: Path, report: RunReport, out: Output) -> None:
    bad = report.failed_hosts + report.unreachable_hosts
    if bad:
        path.write_text("\n".join(bad) + "\n", encoding="utf-8")
        out.info(f"retry file: {path} ({len(bad)} hosts); rerun with --limit @{path}")
    elif path.exists():
        path.unlink()


def _list(out: Output, books, inventory, limit: str | None, hosts: bool, tasks: bool) -> None:
    allowed = set(inventory.select(limit)) if limit else None
    for b in books:
        out.text(f"playbook: {b.path}")
        for play in b.plays:
            names = [n for n in inventory.select(play.pattern) if allowed is None or n in allowed]
            out.text(f"  play: {play.name} (hosts: {play.pattern})")
            if hosts:
                out.text(f"    hosts ({len(names)}):")
                for n in names:
                    out.text(f"      {n}")
            if tasks:
                out.text("    tasks:")
                for t in play.tasks:
                    tag_text = f"  TAGS: [{', '.join(sorted(set(t.kw.tags) | set(play.kw.tags)))}]" if (t.kw.tags or play.kw.tags) else ""
                    origin = f"  ({t.origin}:)" if t.origin else ""
                    out.text(f"      {t.name}{origin}{tag_text}")
