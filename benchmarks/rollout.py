"""One rollout three ways (deployer, Ansible, pyinfra) on N real sshd hosts.

    python benchmarks/rollout.py --hosts 1,10 --reps 3

For each N: start a fleet (tests/fleet: every host its own sshd, netns, root
overlay, a daemonless systemctl), then per repetition run each tool twice on
freshly reset hosts - the first run (everything changes) and a no-op rerun -
rotating which tool goes first (the 2 cores are shared by every sshd and the
tool under test; compare only within one run). Same hosts, same forks (= N),
same work (rollout/: directory, three files, a template, lineinfile, a
command with creates, a unit file, a service started and enabled). The hosts'
systemctl is a stand-in (Debian's daemonless one, a Python script: ~60 ms of
CPU per call where real systemctl takes a few): `--service process` replaces
the last two tasks by a guarded start of the app, to see the tools' own cost.
Ansible runs with pipelining and ControlPersist (its fast settings; a fresh
control path for every first run), pyinfra with its defaults; both check host
keys against the fleet's known_hosts as deployer does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools import DEPLOYER_SRC, REPO, Timed, deployer_argv, deployer_env, median, say, timed, tools_venv, versions

from tests.fleet import Fleet

HERE = Path(__file__).resolve().parent / "rollout"
TOOLS = ("deployer", "pyinfra", "ansible")
RESET = (
    "systemctl stop bench-app >/dev/null 2>&1; systemctl disable bench-app >/dev/null 2>&1; "
    "pkill -f 'app.py serve'; rm -rf /srv/bench /etc/systemd/system/bench-app.service; true"
)
CHECK = "cat /srv/bench/app/app.conf /srv/bench/app/settings.ini && test -e /srv/bench/app/.initialized && pgrep -f 'app.py serve' >/dev/null"


def write_inputs(fleet: Fleet, work: Path) -> dict[str, Path]:
    inv = fleet.write_inventory(work / "inventory.ini")
    hosts = ",\n".join(
        f"    ({h.name!r}, {{'ssh_hostname': {h.address!r}, 'ssh_port': {h.port}, 'ssh_user': 'root', "
        f"'ssh_key': {str(fleet.client_key)!r}, 'ssh_known_hosts_file': {str(fleet.known_hosts)!r}, "
        f"'ssh_strict_host_key_checking': 'yes'}})"
        for h in fleet.hosts
    )
    pyinv = work / "inventory.py"
    pyinv.write_text(f"hosts = [\n{hosts},\n]\n")
    cfg = work / "ansible.cfg"
    cfg.write_text(
        "[defaults]\nhost_key_checking = True\ninterpreter_python = /usr/bin/python3\n"
        "retry_files_enabled = False\ngathering = explicit\n"
        "[ssh_connection]\npipelining = True\nssh_args = -o ControlMaster=auto -o ControlPersist=60s\n"
    )
    return {"ini": inv, "py": pyinv, "cfg": cfg}


def argv_for(tool: str, bin_dir: Path, inputs: dict[str, Path], forks: int, service: str) -> list[str]:
    suffix = "-process" if service == "process" else ""
    if tool == "deployer":
        return [*deployer_argv(), "run", str(HERE / f"deployer{suffix}.yml"), "-i", str(inputs["ini"]), "-f", str(forks)]
    if tool == "ansible":
        return [str(bin_dir / "ansible-playbook"), "-i", str(inputs["ini"]), "-f", str(forks), str(HERE / f"ansible{suffix}.yml")]
    return [str(bin_dir / "pyinfra"), "-y", "--parallel", str(forks), str(inputs["py"]), str(HERE / "pyinfra_deploy.py")]


def reset(fleet: Fleet) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda h: fleet.exec(h, RESET, check=False), fleet.names))


def verify(fleet: Fleet, tool: str) -> None:
    for name in (fleet.names[0], fleet.names[-1]):
        proc = fleet.exec(name, CHECK, check=False)
        if proc.returncode != 0 or f"host = {name}" not in proc.stdout or "workers = 4" not in proc.stdout:
            raise SystemExit(f"bench: {tool} did not do the work on {name}:\n{proc.stdout}{proc.stderr}")


def run_n(n: int, reps: int, bin_dir: Path, tools: tuple[str, ...], work: Path, service: str) -> dict[str, dict]:
    say(f"bench: starting {n} hosts")
    systemd = [f"h{i}" for i in range(1, n + 1)] if service == "systemd" else []
    with Fleet(n, systemd_hosts=systemd, users=False) as fleet:
        inputs = write_inputs(fleet, work)
        runs: dict[str, dict[str, list[Timed]]] = {t: {"first": [], "noop": []} for t in tools}
        # rep 0 is an untimed warm-up of every tool: a fresh fleet's hosts are
        # colder than a lab's (new overlay mounts: every program's first start
        # on a host costs more), and only the tool that happened to go first
        # would pay for it
        for rep in range(-1, reps):
            order = tools[rep % len(tools):] + tools[: rep % len(tools)] if rep >= 0 else tools
            for tool in order:
                reset(fleet)
                env = deployer_env() if tool == "deployer" else {"BENCH_SERVICE": service}
                if tool == "ansible":
                    cp = work / f"cp-{n}-{rep}"
                    cp.mkdir()
                    env = {"ANSIBLE_CONFIG": str(inputs["cfg"]), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp),
                           "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp")}
                argv = argv_for(tool, bin_dir, inputs, n, service)
                for kind in ("first", "noop") if rep >= 0 else ("first",):
                    cwd = DEPLOYER_SRC if tool == "deployer" else REPO
                    t = timed(argv, work / f"{tool}-{n}-{rep}-{kind}.log", env=env, cwd=cwd)
                    if t.rc != 0:
                        raise SystemExit(f"bench: {tool} failed (exit {t.rc}); see {t.log}:\n{t.log.read_text()[-3000:]}")
                    if rep < 0:
                        say(f"bench: N={n} warm-up  {tool:8s} {kind:5s} {t.seconds:6.2f} s (not counted)")
                        continue
                    runs[tool][kind].append(t)
                    say(f"bench: N={n} rep {rep + 1}/{reps} {tool:8s} {kind:5s} {t.seconds:6.2f} s")
                verify(fleet, tool)
        return {
            tool: {
                "first": median([t.seconds for t in r["first"]]),
                "noop": median([t.seconds for t in r["noop"]]),
                "peak_rss_mib": max(t.max_rss_kib for t in r["first"] + r["noop"]) / 1024,
                "cpu_first": median([t.cpu for t in r["first"]]),
                "runs": len(r["first"]),
            }
            for tool, r in runs.items()
        }


def report(results: dict[int, dict[str, dict]], service: str) -> list[str]:
    lines = []
    for n, res in results.items():
        lines.append(f"\nN = {n} host{'s' if n != 1 else ''} (medians of {res['deployer']['runs']} runs; forks {n}; service: {service})")
        lines.append(f"  {'tool':10s} {'first run':>10s} {'no-op':>8s} {'peak RSS':>10s} {'its CPU, first run':>19s}")
        for tool, r in res.items():
            lines.append(f"  {tool:10s} {r['first']:9.2f}s {r['noop']:7.2f}s {r['peak_rss_mib']:8.0f} MiB {r['cpu_first']:17.2f}s")
        d = res["deployer"]
        for other, target in (("pyinfra", 0.8), ("ansible", 0.1)):
            if other in res:
                ratio = d["first"] / res[other]["first"]
                lines.append(
                    f"  deployer/{other:8s} first {ratio:5.2f}x (target <= {target}x: {'ok' if ratio <= target else 'MISSED'})"
                    f"   no-op {d['noop'] / res[other]['noop']:5.2f}x"
                )
        if n == 10:
            lines.append(f"  deployer no-op rerun {d['noop']:.2f} s (target <= 1 s: {'ok' if d['noop'] <= 1 else 'MISSED'})")
    ns = sorted(results)
    for a, b in zip(ns, ns[1:]):
        for tool in results[a]:
            if tool in results[b]:
                g = (results[b][tool]["first"] - results[a][tool]["first"]) / (b - a)
                note = f" (target <= 0.05 s: {'ok' if g <= 0.05 else 'MISSED'})" if tool == "deployer" else ""
                lines.append(f"growth per extra host, N={a}->{b}, first run: {tool:8s} {g:6.3f} s{note}")
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", default="1,10,50", help="comma-separated fleet sizes (default 1,10,50)")
    ap.add_argument("--reps", type=int, default=3, help="runs of each tool per fleet size (default 3)")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--service", choices=("systemd", "process"), default="systemd",
                    help="the service-like task: a systemd unit (default) or a guarded start command")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    tools = tuple(t for t in args.tools.split(",") if t)
    bin_dir = tools_venv()
    say(f"bench: {versions(bin_dir)}")
    results: dict[int, dict[str, dict]] = {}
    work = Path(tempfile.mkdtemp(prefix="deployer-bench-"))
    try:
        for n in [int(x) for x in args.hosts.split(",")]:
            reps = args.reps if n < 50 else max(1, min(args.reps, 2))
            results[n] = run_n(n, reps, bin_dir, tools, work, args.service)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = report(results, args.service)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
