"""`deployer stage`: download on a connected machine what an air-gapped rollout needs."""

from __future__ import annotations

import time
from pathlib import Path

import click

from deployer.cli import Env, Exit, cli
from deployer.cli._common import extra_vars_option, inventory_option, limit_option, load_facts_file, parse_extra_vars, resolve_limit
from deployer.errors import ExitStatus, UsageError
from deployer.ollama.registry import ModelName, human_size
from deployer.ollama.release import MACHINE_TO_ARCH, normalize_version, release_file
from deployer.output import Output
from deployer.stage import inputs, plan as planning
from deployer.stage.http import Http
from deployer.stage.models import DEFAULT_URL as REGISTRY_URL
from deployer.stage.openwebui import Docker, PipOptions
from deployer.stage.releases import DEFAULT_URL as RELEASE_URL, ReleaseItem
from deployer.stage.run import Options, Outcome, Work, advice, stage as run_stage
from deployer.targets import ConnectOptions


@cli.command()
@click.argument("playbooks", nargs=-1, type=click.Path(dir_okay=False))
@inventory_option(required=False)
@extra_vars_option
@limit_option
@click.option("-o", "--output", default="artifacts", show_default=True, type=click.Path(file_okay=False), help="The artefacts directory (MANIFEST.json, ollama-<version>/, bundles/, open-webui-*).")
@click.option("--facts", "facts_file", type=click.Path(dir_okay=False), help="Plan from a `deployer facts -o` file: the hosts are not contacted.")
@click.option("--all-candidates", is_flag=True, help="For size: auto, stage every tag it could pick, not only the one that fits each host now.")
@click.option("--ollama", "ollama_versions", multiple=True, metavar="VERSION", help="Also stage this Ollama release (for --arch). Repeatable.")
@click.option("--arch", "archs", multiple=True, type=click.Choice(["amd64", "arm64"]), help="Architecture for --ollama and --open-webui-wheels (default amd64). Repeatable.")
@click.option("--rocm", is_flag=True, help="With --ollama: also the -rocm archive (AMD GPUs).")
@click.option("--model", "model_names", multiple=True, metavar="MODEL:TAG", help="Also stage this model tag as a bundle. Repeatable.")
@click.option("--open-webui-image", "images", multiple=True, metavar="IMAGE:TAG", help="Also `docker save` this image. Repeatable.")
@click.option("--open-webui-wheels", "wheel_versions", multiple=True, metavar="VERSION", help="Also download an open-webui wheelhouse ('latest' for the newest). Repeatable.")
@click.option("--release-url", help=f"Ollama release downloads (default: the play's source.url, else {RELEASE_URL}).")
@click.option("--registry-url", help=f"The Ollama registry (default {REGISTRY_URL}).")
@click.option("--pip-index-url", help="Package index for the wheelhouse (default: pip's configuration).")
@click.option("--pip-find-links", multiple=True, metavar="DIR|URL", help="Wheels from here (without --pip-index-url: only from here). Repeatable.")
@click.option("--python-version", default="3.11", show_default=True, help="Python of the hosts' Open WebUI venv (wheels are chosen for it).")
@click.option("--refresh", is_flag=True, help="Ask the registries again for staged tags and images (a moved tag is staged anew).")
@click.option("--retries", default=4, show_default=True, type=click.IntRange(0, 20), help="Attempts after a dropped or stalled download (each resumes).")
@click.option("--list", "list_only", is_flag=True, help="Show what would be staged, for which hosts; download nothing.")
@click.option("-f", "--forks", default=10, show_default=True, type=click.IntRange(1, 1000), help="Hosts probed at once.")
@click.option("--ssh-accept-new", is_flag=True, help="Accept and record host keys never seen before.")
@click.option("--timeout", default=10.0, show_default=True, help="SSH connect timeout, seconds.")
@click.option("--json", "as_json", is_flag=True, help="Write what was staged as JSON on stdout.")
@click.pass_obj
def stage(env: Env, playbooks, inventories, extra_vars, limit, output, facts_file, all_candidates, ollama_versions, archs,
          rocm, model_names, images, wheel_versions, release_url, registry_url, pip_index_url, pip_find_links,
          python_version, refresh, retries, list_only, forks, ssh_accept_new, timeout, as_json) -> None:
    """Download what PLAYBOOKS need for the hosts they target (and/or an explicit list) into -o DIR.

    Ollama release archives for the hosts' architectures (rocm where AMD GPUs
    were seen) with sha256sum.txt, the model tags the fitting chose (bundles
    straight from the registry: no Ollama needed here), the Open WebUI image
    (docker save) or wheelhouse (pip download). Resumable and verified; a rerun
    fetches nothing already staged. MANIFEST.json in DIR lists it all.
    """
    out = env.output()
    limit = resolve_limit(limit)
    root = Path(output)
    work = Work()
    plan = None
    unreachable: dict[str, str] = {}
    if playbooks:
        loaded = inputs.load(playbooks, inventories, parse_extra_vars(extra_vars), limit)
        for w in loaded.warnings:
            out.warn(w)
        names = planning.targeted(loaded.books, loaded.inventory, limit)
        connect = ConnectOptions(accept_new_host_keys=ssh_accept_new, connect_timeout=timeout)
        facts, unreachable = inputs.gather(loaded.inventory, names, connect, forks, load_facts_file(facts_file) if facts_file else None)
        plan = planning.make_plan(loaded.books, loaded.inventory, loaded.extra_vars, facts, limit, all_candidates, connect)
        for host, why in unreachable.items():
            plan.hosts[host].errors.insert(0, f"not planned: {why}")
        work = Work.of_plan(plan)
    elif inventories or facts_file or all_candidates:
        raise UsageError("-i, --facts and --all-candidates plan from a playbook: name one")
    _explicit(work, ollama_versions, archs, rocm, model_names, images, wheel_versions)
    if work.empty() and not (plan and plan.errors):
        raise UsageError("nothing to stage", hint="name a playbook (with -i), or --ollama/--model/--open-webui-image/--open-webui-wheels")
    if plan is not None:
        for host, hp in plan.hosts.items():
            for e in hp.errors:
                out.error(f"{host}: {e}")
            for w in hp.warnings:
                out.warn(f"{host}: {w}")
    if list_only:
        if as_json:
            out.json({"items": _work_json(work), "plan_errors": plan.errors if plan else {}})
        else:
            _show_work(out, work)
        raise Exit(_status([], plan, unreachable))
    http = Http(environ=env.environ, retries=retries, progress=_progress(out))
    options = Options(release_url, registry_url, PipOptions(pip_index_url, tuple(pip_find_links), python_version), refresh)
    outcomes = run_stage(work, root, http, Docker(env.environ), options)
    _show(out, outcomes, root)
    tips = advice(plan, root) if plan is not None else []
    for t in tips:
        out.warn(f"for the offline run: {t}")
    if as_json:
        out.json({"artifacts": str(root), "items": [o.to_json() for o in outcomes],
                  "plan_errors": plan.errors if plan else {}, "advice": tips})
    raise Exit(_status(outcomes, plan, unreachable))


def _explicit(work: Work, versions, archs, rocm: bool, model_names, images, wheel_versions) -> None:
    for version in versions:
        v = normalize_version(version)
        for arch in archs or ("amd64",):
            work.add_release(ReleaseItem(v, release_file(arch, v), arch), RELEASE_URL)
            if rocm and arch == "amd64":
                work.add_release(ReleaseItem(v, release_file(arch, v, "rocm"), arch, "rocm"), RELEASE_URL)
    for text in model_names:
        try:
            work.add_model(ModelName.parse(text))
        except ValueError as exc:
            raise UsageError(str(exc), hint="e.g. --model deepseek-r1:7b") from None
    for ref in images:
        if ":" not in ref.rpartition("/")[2]:
            raise UsageError(f"--open-webui-image {ref}: give the tag too", hint="e.g. ghcr.io/open-webui/open-webui:main")
        work.add_image(ref)
    for version in wheel_versions:
        for arch in archs or ("amd64",):
            work.add_wheels(None if version == "latest" else version, MACHINE_TO_ARCH[arch], None)


def _status(outcomes: list[Outcome], plan: planning.Plan | None, unreachable: dict[str, str]) -> ExitStatus:
    other_errors = plan is not None and any(h not in unreachable for h in plan.errors)
    if other_errors or any(o.status == "failed" for o in outcomes):
        return ExitStatus.HOST_FAILED
    return ExitStatus.UNREACHABLE if unreachable else ExitStatus.OK


def _work_json(work: Work) -> list[dict]:
    def hosts(h: list[str]) -> list[str]:
        return sorted(set(h))

    items = [{"kind": "ollama-release", "name": item.name, "version": item.version, "arch": item.arch, "hosts": hosts(h)}
             for (item, _), h in work.releases.items()]
    items += [{"kind": "model", "name": name.short, "version": name.tag, "arch": None, "hosts": hosts(h)} for name, h in work.models.items()]
    items += [{"kind": "open-webui-image", "name": ref, "version": ref.rpartition(":")[2], "arch": None, "hosts": hosts(h)}
              for ref, h in work.images.items()]
    items += [{"kind": "open-webui-wheelhouse", "name": "open-webui", "version": v or "latest", "arch": arch, "hosts": hosts(h)}
              for (v, arch), (_, h) in work.wheels.items()]
    return items


def _show_work(out: Output, work: Work) -> None:
    rows = [(i["kind"], i["name"], i["version"], i["arch"] or "", ", ".join(i["hosts"]) or "-") for i in _work_json(work)]
    out.table("would stage", ["kind", "name", "version", "arch", "hosts"], rows)


def _show(out: Output, outcomes: list[Outcome], root: Path) -> None:
    rows = []
    for o in outcomes:
        size = human_size(o.size) if o.size else "-"
        what = {"fetched": f"fetched {human_size(o.bytes)}", "kept": "already staged", "failed": "FAILED"}[o.status]
        rows.append((o.kind, o.name, o.arch or "", what, size, o.file or "-", ", ".join(o.hosts) or "-"))
    fetched = sum(o.bytes for o in outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    out.table(f"staged into {root}", ["kind", "name", "arch", "status", "size", "file", "hosts"], rows,
              caption=f"{human_size(fetched)} fetched; {len(failed)} failed; see {root / 'MANIFEST.json'}")
    for o in failed:
        out.error(o.error or o.name)


def _progress(out: Output):
    last: dict[str, float] = {}

    def show(label: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = bool(total) and done >= total
        if finished and label not in last:
            return  # a small item: its line in the table says enough
        if not finished and now - last.get(label, now) < 2.0:
            last.setdefault(label, now)
            return
        last[label] = now
        pct = f" {done * 100 // total}%" if total else ""
        out.info(f"  {label}:{pct} {human_size(done)}" + (f" of {human_size(total)}" if total else ""))

    return show
