"""Checks of what a host is (its connection, sudo, platform, GPUs, docker), given what the playbook needs there."""

from __future__ import annotations

import re

from deployer.connection import Become, BecomeFailed, Connection
from deployer.doctor.probe import Extras
from deployer.doctor.verdict import Verdict, fail, ok, skip, warn
from deployer.errors import DeployerError, ModuleFailure
from deployer.facts.model import HostFacts
from deployer.modules.base import TaskContext
from deployer.ollama import sources
from deployer.ollama.release import MACHINE_TO_ARCH, glibc_problem, normalize_version, parse_archive_name, version_tuple
from deployer.stage.plan import HostPlan

#: NVIDIA driver Ollama's CUDA 12 builds need (its docs: 531 and newer)
NVIDIA_DRIVER_MIN = 531
#: compute capability Ollama's CUDA builds support
COMPUTE_MIN = (5, 0)
#: since this version Ollama reads ROCR_VISIBLE_DEVICES on every node and hides NVIDIA GPUs too
ROCR_SINCE = (0, 9, 3)
USER_MODE = "or use mode: user in the play's ollama: key (no root, no systemd)"


def connection_failure(message: str) -> list[Verdict]:
    """Verdicts for a host that could not be connected to (the SSH layer's message)."""
    if "has CHANGED" in message:
        return [ok("reachable", "sshd answers"),
                fail("host key", message, "if the host was reinstalled: ssh-keygen -R <host>, then check the new key's fingerprint")]
    if "is not known" in message:
        return [ok("reachable", "sshd answers"),
                fail("host key", message, "check its fingerprint, then ssh-keyscan it into known_hosts, or run once with --ssh-accept-new")]
    if "authentication failed" in message:
        return [fail("reachable", message, "check ansible_user and ansible_ssh_private_key_file (or ansible_password)")]
    return [fail("reachable", message, "check ansible_host/ansible_port, that sshd runs there, and the jump host (ProxyJump) on the way")]


def reachable(conn: Connection, via: str | None) -> list[Verdict]:
    how = "on this machine" if conn.is_local else f"over SSH{' through ' + via if via else ''}"
    keys = skip("host key", "not needed: a local connection") if conn.is_local else ok("host key", "known and matching")
    return [ok("reachable", how), keys]


def sudo(hp: HostPlan | None, facts: HostFacts, extras: Extras, conn: Connection, password: str | None) -> Verdict:
    """Can the tasks that become root do so?"""
    needed = hp is not None and hp.become is not None
    user = facts.user or "the login user"
    if facts.is_root or extras.sudo == "root":
        return ok("sudo", "logged in as root")
    if extras.sudo == "ok" or facts.software.sudo:
        return ok("sudo", f"{user} has passwordless sudo")
    if password is not None:
        try:
            conn.run("true", become=Become(password=password))
        except BecomeFailed as exc:
            return fail("sudo", f"sudo with the become password fails for {user}: {exc.message}",
                        f"fix ansible_become_password (or -K), {USER_MODE}")
        return ok("sudo", f"sudo works for {user} with the become password")
    if not needed:
        detail = "not needed: no task of the playbook becomes root" if hp is not None else "no passwordless sudo"
        return ok("sudo", detail) if hp is not None else warn("sudo", f"{user}: {detail}", f"system mode needs sudo: set ansible_become_password, {USER_MODE}")
    if extras.sudo == "none":
        return fail("sudo", f"there is no sudo on {facts.hostname}, and the playbook becomes root", f"log in as root, {USER_MODE}")
    why = extras.sudo_text or "sudo -n refused"
    return fail("sudo", f"sudo needs a password for {user} (sudo -n: {why})",
                f"set ansible_become_password (or run with -K), {USER_MODE}")


def platform(hp: HostPlan | None, facts: HostFacts) -> Verdict:
    """Architecture and C library against the Ollama version the play installs (deployer.ollama.sources.preflight)."""
    arch = MACHINE_TO_ARCH.get(facts.arch) or MACHINE_TO_ARCH.get(facts.cpu.machine)
    installs = [c for c in (hp.installs if hp else []) if not c.rollback]
    if not installs:
        if arch is None:
            return fail("arch/glibc", f"{facts.cpu.machine}: Ollama ships amd64 and arm64 builds only")
        low = glibc_problem("0.5.13", facts.os.glibc)
        if low:
            return warn("arch/glibc", f"{arch}, {low}", "only Ollama older than 0.5.13 runs here")
        return ok("arch/glibc", f"{arch}, glibc {facts.os.glibc or 'unknown'}")
    assert hp is not None
    ctx = TaskContext(host=hp.host, connection=None, vars={})
    for cfg in installs:
        version = normalize_version(cfg.version)
        bundles = []
        for r in hp.releases:
            if r.item.version == version:
                name = r.local.name if r.local is not None else r.item.name
                try:
                    parsed = parse_archive_name(name)
                except DeployerError as exc:
                    return fail("arch/glibc", exc.message, "point source.tarball at an Ollama release archive")
                bundles.append(sources.Bundle(name, r.item.variant, parsed.fmt, parsed.arch))
        try:
            sources.preflight(ctx, bundles, version, facts)
        except ModuleFailure as exc:
            return fail("arch/glibc", exc.message, exc.hint)
    detail = f"{arch}, glibc {facts.os.glibc or 'unknown'}: runs Ollama {', '.join(normalize_version(c.version) for c in installs)}"
    return warn("arch/glibc", f"{detail}; {'; '.join(ctx.warnings)}") if ctx.warnings else ok("arch/glibc", detail)


def systemd(hp: HostPlan | None, facts: HostFacts) -> Verdict:
    system = [c for c in (hp.installs + hp.services if hp else []) if c.mode == "system"]
    if facts.os.systemd:
        return ok("systemd", "running")
    if system:
        return fail("systemd", f"no running systemd on {facts.hostname}, and the play installs Ollama in mode: system",
                    "use mode: user in the play's ollama: key (a detached `ollama serve`, no root)")
    if hp is not None and (hp.installs or hp.services):
        return ok("systemd", "not running; not needed (mode: user)")
    return warn("systemd", "not running: Ollama can only run in mode: user here") if hp is None else skip("systemd", "not needed")


def gpu(facts: HostFacts) -> Verdict:
    nvidia = [g for g in facts.gpus if g.vendor == "nvidia"]
    amd = [g for g in facts.gpus if g.vendor == "amd"]
    broken = [n for n in facts.notes if "nvidia-smi" in n]
    if broken and not nvidia:
        return warn("gpu", broken[0] + " - models would run on the CPU",
                    "install or repair the NVIDIA driver (deployer never installs drivers)")
    problems = []
    for g in nvidia:
        major = int(m.group(1)) if g.driver and (m := re.match(r"(\d+)", g.driver)) else None
        if major is not None and major < NVIDIA_DRIVER_MIN:
            problems.append(f"GPU {g.index} ({g.name}): driver {g.driver} is older than {NVIDIA_DRIVER_MIN}, which Ollama's CUDA build needs")
        cc = version_tuple(g.compute_capability or "")
        if cc and cc < COMPUTE_MIN:
            problems.append(f"GPU {g.index} ({g.name}): compute capability {g.compute_capability} is below 5.0: Ollama cannot use it")
    if problems:
        return warn("gpu", "; ".join(problems) + " - models would run on the CPU", "update the NVIDIA driver (deployer never installs drivers)")
    parts = []
    if nvidia:
        cuda = f", CUDA {facts.software.cuda_version}" if facts.software.cuda_version else ""
        parts.append(f"{len(nvidia)}x {nvidia[0].name}, driver {nvidia[0].driver or '?'}{cuda}")
    if amd:
        parts.append(f"{len(amd)}x {amd[0].name} (AMD: needs the -rocm archive)")
    return ok("gpu", "; ".join(parts) if parts else "no GPU: models run on the CPU")


def rocr_trap(hp: HostPlan | None, facts: HostFacts) -> Verdict:
    """Slurm sets ROCR_VISIBLE_DEVICES on NVIDIA nodes too; Ollama >= 0.9.3 then hides the NVIDIA GPUs."""
    check = "ROCR_VISIBLE_DEVICES"
    nvidia = any(g.vendor == "nvidia" for g in facts.gpus)
    amd = any(g.vendor == "amd" for g in facts.gpus)
    services = hp.services if hp else []
    in_play = next((c.env[check] for c in services if check in c.env), None)
    login = facts.env.get(check)
    versions = [normalize_version(c.version) for c in (hp.installs if hp else []) if not c.rollback]
    affected = not versions or any(version_tuple(v) >= ROCR_SINCE for v in versions)
    if not nvidia or (login is None and in_play is None):
        return ok(check, "selects AMD GPUs here, as meant" if amd and (login or in_play) else "not set" if nvidia else "no NVIDIA GPU: not a concern")
    if not affected:
        return ok(check, f"set, but Ollama {', '.join(versions)} predates 0.9.3, which started reading it on NVIDIA nodes")
    if in_play is not None:
        return fail(check, f"the play sets ROCR_VISIBLE_DEVICES={in_play} for Ollama on an NVIDIA host: Ollama >= 0.9.3 then runs on the CPU",
                    "remove ROCR_VISIBLE_DEVICES from the play's ollama: env")
    slurm = " (Slurm sets it)" if any(k.startswith("SLURM_") for k in facts.env) else ""
    return warn(check, f"ROCR_VISIBLE_DEVICES={login} is in the login environment{slurm}: deployer's server starts with a clean "
                "environment and is not affected, but an `ollama serve` started by hand or in a job script "
                "(Ollama >= 0.9.3) runs on the CPU", "unset ROCR_VISIBLE_DEVICES before starting Ollama yourself")


def docker(hp: HostPlan | None, facts: HostFacts, extras: Extras) -> Verdict:
    frontends = [f for f in (hp.frontends if hp else []) if f.mode == "docker"]
    sw = facts.software
    if not frontends:
        if hp is not None:
            return skip("docker", "not needed: no Open WebUI in docker mode")
        return ok("docker", f"docker {sw.docker_version} usable") if sw.docker_usable else skip("docker", "not usable (only Open WebUI's docker mode needs it)")
    for f in frontends:
        if f.docker_host and f.docker_host in extras.docker:
            usable, detail = extras.docker[f.docker_host]
            if not usable:
                return fail("docker", f"docker info against {f.docker_host} fails: {detail}",
                            "start that daemon, or fix docker_host; or use frontend.open_webui mode: pip")
            return ok("docker", f"docker {detail} at {f.docker_host}")
    if sw.docker_usable:
        return ok("docker", f"docker {sw.docker_version} usable")
    if sw.docker_version is None:
        return fail("docker", f"no docker on {facts.hostname}, and Open WebUI runs in docker mode",
                    "install docker there, or use frontend.open_webui mode: pip (a wheelhouse)")
    why = next((n for n in facts.notes if n.startswith("docker is installed")), "docker info fails")
    if hp is not None and hp.become is not None:
        return warn("docker", f"{why}; the play's tasks become root, which docker usually allows")
    return fail("docker", why, f"add {facts.user or 'the login user'} to the docker group, or become root (become: true)")
