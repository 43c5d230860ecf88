"""`deployer bench`: benchmark an existing deployment, no playbook needed; and the fleet report.

    deployer bench -i inventories/lab --limit gpu --model deepseek-r1:14b --runs 5 --report out/

builds one llm_benchmark task per --model (default: the models installed on
each host), runs it like `deployer run` would, prints a table per host and,
with --report, writes DIR/report.json and DIR/report.html.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from deployer.bench import report as fleet
from deployer.bench.hardware import one_line
from deployer.cli import Env, Exit, cli
from deployer.cli._common import extra_vars_option, inventory_option, limit_option, parse_extra_vars, resolve_limit
from deployer.cli.run import exit_status
from deployer.errors import Location, UsageError
from deployer.executor import Executor, RunOptions
from deployer.facts.model import HostFacts
from deployer.inventory import load_inventory
from deployer.modules.llm_benchmark import LlmBenchmark, LlmBenchmarkArgs
from deployer.output import Output, RunPrinter
from deployer.playbook import Play, PlayKeywords, Playbook, Task, TaskKeywords
from deployer.results import Redactor, RunReport
from deployer.targets import ConnectOptions

WHERE = Location("<deployer bench>")


@cli.command()
@inventory_option()
@limit_option
@extra_vars_option
@click.option("-m", "--model", "models", multiple=True, metavar="M",
              help="Model to benchmark: an Ollama tag or a models: entry name. Repeatable. Default: every model "
                   "installed on each host (or the ones deployer_models lists).")
@click.option("--runs", default=3, show_default=True, type=click.IntRange(1, 100), help="Timed runs per model.")
@click.option("--num-predict", default=128, show_default=True, type=click.IntRange(1, 16384), help="Tokens per run.")
@click.option("--prompt", default=None, help="The fixed prompt (default: a short explanation question).")
@click.option("--seed", default=42, show_default=True, type=int, help="Sampling seed of every run.")
@click.option("--min-tokens-per-second", "min_tps", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Fail a host whose median decode speed is below this.")
@click.option("--only-warn", is_flag=True, help="Below --min-tokens-per-second: warn instead of failing.")
@click.option("--endpoint", metavar="HOST:PORT", help="Where Ollama listens on the hosts (default 127.0.0.1:11434).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), help="Write DIR/report.json and DIR/report.html.")
@click.option("--json", "as_json", is_flag=True, help="Write the report's data (report.json) on stdout.")
@click.option("-f", "--forks", default=10, show_default=True, type=click.IntRange(1, 1000), help="Hosts benchmarked at once.")
@click.option("-v", "--verbose", count=True, help="Show each result's data.")
@click.option("-K", "--ask-become-pass", is_flag=True, help="Ask for the sudo password (never printed).")
@click.option("--ssh-accept-new", is_flag=True, help="Accept and record host keys never seen before.")
@click.option("-F", "--ssh-config", type=click.Path(dir_okay=False), help="ssh_config file for host aliases and ProxyJump.")
@click.option("--timeout", default=10.0, show_default=True, help="SSH connect timeout, seconds.")
@click.pass_obj
def bench(
    env: Env,
    inventories: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    models: tuple[str, ...],
    runs: int,
    num_predict: int,
    prompt: str | None,
    seed: int,
    min_tps: float,
    only_warn: bool,
    endpoint: str | None,
    report_dir: str | None,
    as_json: bool,
    forks: int,
    verbose: int,
    ask_become_pass: bool,
    ssh_accept_new: bool,
    ssh_config: str | None,
    timeout: float,
) -> None:
    """Measure tokens/s of the models the hosts serve; compare with the prediction."""
    out = env.output()
    args: dict[str, Any] = {"runs": runs, "num_predict": num_predict, "seed": seed,
                            "min_tokens_per_second": min_tps, "only_warn": only_warn}
    if prompt is not None:
        args["prompt"] = prompt
    if endpoint is not None:
        args["endpoint"] = endpoint
    book = benchmark_playbook(args, list(models))
    limit = resolve_limit(limit)
    inventory = load_inventory(list(inventories))
    options = RunOptions(
        forks=forks,
        limit=limit,
        extra_vars=parse_extra_vars(extra_vars),
        connect=ConnectOptions(
            accept_new_host_keys=ssh_accept_new,
            connect_timeout=timeout,
            ssh_config_file=ssh_config,
            become_password=env.getpass("BECOME password: ") if ask_become_pass else None,
        ),
        verbosity=verbose,
    )
    from deployer.facts.probe import gather

    redactor = Redactor()
    printer = RunPrinter(out, redactor, verbosity=verbose)
    executor = Executor([book], inventory, options, printer, gather, redactor)
    run = executor.run()
    printer.recap(run)
    report = fleet.build(run, redactor, run_facts(executor), source="deployer bench")
    for host in report.hosts:
        rows = fleet.bench_rows(host)
        if rows:
            out.table(f"{host.host}: {one_line(host.hardware)}", fleet.BENCH_COLUMNS, rows)
    if report_dir:
        write_report(out, report, Path(report_dir))
    if as_json:
        out.json(report.to_json())
    raise Exit(exit_status(run))


def benchmark_playbook(args: dict[str, Any], models: list[str]) -> Playbook:
    """A one-play playbook with an llm_benchmark task per model (one for all installed models if none)."""
    tasks = []
    for model in models or [None]:
        task_args = {**args, "model": model} if model else dict(args)
        try:
            LlmBenchmarkArgs.model_validate(task_args)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise UsageError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        name = f"Benchmark {model}" if model else "Benchmark the installed models"
        tasks.append(Task("llm_benchmark", LlmBenchmark, task_args, TaskKeywords(name=name), WHERE))
    play = Play(PlayKeywords(name="benchmark", hosts="all", gather_facts=True), tasks, [], WHERE)
    return Playbook(Path.cwd() / "deployer-bench", [play])


def run_facts(executor: Executor) -> dict[str, HostFacts]:
    """The facts the run gathered (hosts whose facts were never read are left out)."""
    out = {}
    for name, hs in executor.hosts.items():
        if hs.facts is not None and hs.facts.loaded:
            out[name] = hs.facts.get()
    return out


def write_report(out: Output, report: fleet.FleetReport, directory: Path) -> None:
    """Write report.json and report.html and say where."""
    json_path, html_path = fleet.write(report, directory)
    out.info(f"report: {html_path} (data: {json_path})")


def emit_fleet_report(out: Output, directory: Path, run: RunReport, redactor: Redactor, executor: Executor,
                      source: str = "deployer run") -> None:
    """For `deployer run --report DIR`: the fleet table on the terminal, and the two files."""
    report = fleet.build(run, redactor, run_facts(executor), source=source)
    out.table("Fleet report", fleet.FLEET_COLUMNS, fleet.fleet_rows(report))
    write_report(out, report, directory)
