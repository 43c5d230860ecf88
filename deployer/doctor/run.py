"""Doctor over a fleet: connect and probe every host at once (a bounded pool), plan, judge.

1. plan without facts: which paths, ports, URLs and docker hosts each host's
   probe must look at (install prefix, models dir, listen ports...);
2. per host: connect (the verdicts on reachability and host keys come from
   here), then one probe round trip (deployer.doctor.probe);
3. plan again with the facts (the tags `size: auto` picks, the archives for
   the host's architecture), exactly as the run and `deployer stage` do;
4. per host: the verdicts; sudo is tried with the become password only when
   one is configured and sudo is not passwordless (a second round trip).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

from deployer.connection import Connection, LocalConnection
from deployer.doctor import checks_host, checks_plan
from deployer.doctor.probe import Extras, run as run_probe
from deployer.doctor.verdict import HostReport, Verdict, fail, ok, skip, warn
from deployer.errors import DeployerError, Unreachable
from deployer.facts.bandwidth import measure as measure_bandwidth
from deployer.facts.model import HostFacts
from deployer.inventory import Inventory
from deployer.ssh import SSHConnector
from deployer.stage.models import DEFAULT_URL as REGISTRY_URL
from deployer.stage.plan import HostPlan, Plan
from deployer.targets import ConnectOptions, become_for, is_local, ssh_target

Planner = Callable[[dict[str, HostFacts]], Plan]
#: what a host is checked for without a playbook: Ollama's default port
DEFAULT_PORT = 11434


@dataclass
class Options:
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    registry_url: str = REGISTRY_URL
    forks: int = 10


@dataclass
class _Host:
    name: str
    conn: Connection | None = None
    via: str | None = None
    facts: HostFacts | None = None
    extras: Extras | None = None
    report: HostReport | None = None


def doctor(inventory: Inventory, names: Sequence[str], planner: Planner | None, options: Options) -> tuple[list[HostReport], Plan | None]:
    """A report per host (in `names` order) and the plan the verdicts used."""
    draft = planner({}) if planner else None
    hosts = [_Host(n) for n in names]
    connector = SSHConnector()
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.forks), thread_name_prefix="doctor") as pool:
            list(pool.map(lambda h: _probe(h, inventory, draft.hosts.get(h.name) if draft else None, options, connector), hosts))
            facts = {h.name: h.facts for h in hosts if h.facts is not None}
            plan = planner(facts) if planner else None
            list(pool.map(lambda h: _judge(h, inventory, plan.hosts.get(h.name) if plan else None, options), hosts))
    finally:
        for h in hosts:
            if h.conn is not None:
                h.conn.close()
        connector.close()
    return [h.report for h in hosts if h.report is not None], plan


def _probe(h: _Host, inventory: Inventory, draft: HostPlan | None, options: Options, connector: SSHConnector) -> None:
    hv = inventory.host_vars(h.name)
    try:
        if is_local(h.name, hv):
            h.conn = LocalConnection(h.name)
        else:
            target = ssh_target(h.name, hv, options.connect)
            h.via = target.proxy_jump or connector.ssh_config(target.ssh_config_file).lookup(target.host).get("proxyjump")
            h.conn = connector.connect(target)
    except Unreachable as exc:
        h.report = HostReport(h.name, reachable=False, verdicts=checks_host.connection_failure(str(exc)))
        return
    except DeployerError as exc:
        h.report = HostReport(h.name, reachable=False, verdicts=[fail("reachable", str(exc))])
        return
    if draft is not None:
        paths = checks_plan.install_roots(draft) + checks_plan.models_dirs(draft)
        ports = sorted(checks_plan.ports(draft))
        urls = checks_plan.probe_urls(draft, options.registry_url)
        proxy = next((c.https_proxy for c in draft.services if c.https_proxy), None)
        docker_hosts = [f.docker_host for f in draft.frontends if f.docker_host]
    else:
        paths, ports, urls, proxy, docker_hosts = [], [DEFAULT_PORT], [f"{options.registry_url.rstrip('/')}/v2/"], None, []
    try:
        h.facts, h.extras = run_probe(h.conn, paths, ports, urls, proxy, docker_hosts)
        if hv.get("deployer_measure_bandwidth"):
            # as the run does: the fitting (min_tokens_per_second) then sees the measured bandwidth
            h.facts = measure_bandwidth(h.conn, h.facts)
    except Unreachable as exc:
        h.report = HostReport(h.name, reachable=False, verdicts=[fail("reachable", f"the connection broke during the probe: {exc}")])


def _judge(h: _Host, inventory: Inventory, hp: HostPlan | None, options: Options) -> None:
    if h.report is not None or h.conn is None or h.facts is None or h.extras is None:
        return
    facts, extras = h.facts, h.extras
    report = HostReport(h.name)
    report.add(*checks_host.reachable(h.conn, h.via))
    try:
        password = _password(inventory, h.name, hp, options)
        report.add(checks_host.sudo(hp, facts, extras, h.conn, password))
    except Unreachable as exc:
        report.add(fail("sudo", f"the connection broke while trying sudo: {exc}"))
    except DeployerError as exc:
        report.add(fail("sudo", str(exc)))
    report.add(checks_host.platform(hp, facts), checks_host.systemd(hp, facts), checks_host.gpu(facts),
               checks_host.rocr_trap(hp, facts), checks_host.docker(hp, facts, extras))
    if hp is None:
        report.add(skip("disk", "no playbook given"), _default_port(extras), _registry_only(extras, options.registry_url),
                   skip("artefacts", "no playbook given"))
    else:
        report.add(checks_plan.disk(hp, facts), checks_plan.port_use(hp, facts, extras),
                   checks_plan.registry(hp, extras, options.registry_url), checks_plan.artefacts(hp))
        for err in hp.errors:
            report.add(fail("playbook", err, "see the message; `deployer run --check` shows the same"))
    h.report = report


def _password(inventory: Inventory, name: str, hp: HostPlan | None, options: Options) -> str | None:
    if hp is not None and hp.become is not None:
        return hp.become.password
    become = become_for(inventory.host_vars(name), True, None, False, None, options.connect)
    return become.password if become else None


def _default_port(extras: Extras) -> Verdict:
    users = extras.listening.get(DEFAULT_PORT)
    if not users:
        return ok("ports", f"{DEFAULT_PORT} (Ollama's default) is free")
    return warn("ports", f"{DEFAULT_PORT} (Ollama's default) is taken by {', '.join(u for u in users if u) or 'a process'}",
                "an Ollama already running? else choose another listen port")


def _registry_only(extras: Extras, registry_url: str) -> Verdict:
    reached, detail = extras.reach.get(f"{registry_url.rstrip('/')}/v2/", (None, "not tested"))
    if reached:
        return ok("registry", f"{registry_url} reachable: models can be pulled")
    detail = detail.removesuffix(" 000")
    if reached is None:
        return warn("registry", f"cannot test: {detail}")
    return warn("registry", f"{registry_url} is not reachable ({detail}): models must come from bundles",
                "stage them on a connected machine (deployer stage) and use source: bundle")
