"""ollama_install's work: plan from a probed state, then push, extract, switch, prune, link.

An install never leaves a half-installed version at its final path: archives
are uploaded to ``.staging/<version>/`` (resumable, verified: transfer.push),
extracted into ``<version>.tmp-*``, checked (``bin/ollama -v`` must report the
version), marked, and only then renamed to ``<version>``. Each version gets a
fresh directory, so a stale ``lib/ollama`` is never mixed with a new one.
``current`` and ``previous`` are switched with ``ln -s`` + ``mv -T`` (atomic).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from deployer import relay, transfer
from deployer.errors import ModuleFailure
from deployer.modules.base import Change, Diff, TaskContext
from deployer.ollama import download, sources
from deployer.ollama.config import OllamaConfig
from deployer.ollama.install_state import InstallPlan, InstallState, make_plan, parse_state, probe_script
from deployer.ollama.layout import MARKER, Layout, layout
from deployer.ollama.release import human_bytes, normalize_version
from deployer.ollama.sources import Bundle

#: free space wanted at the prefix, as a multiple of the archives' size (upload + extracted)
SPACE_FACTOR = 2


@dataclass
class Upload:
    """One archive on its way to the host."""

    bundle: Bundle
    art: transfer.LocalArtifact | None  # None: online, or a .tar to be decompressed first
    dest: str
    state: str = "absent"  # transfer.remote_state


def read_state(ctx: TaskContext, lay: Layout) -> InstallState:
    res = ctx.probe(probe_script(lay))
    if not res.ok:
        raise ModuleFailure(f"cannot read the Ollama install on {ctx.host}: {res.tail(3)}")
    return parse_state(res.stdout)


def check(ctx: TaskContext, cfg: OllamaConfig) -> Change | None:
    """Read-only: what installing `cfg.version` would change on this host."""
    version = normalize_version(cfg.version)
    facts = ctx.facts()
    bundles: list[Bundle] = []
    if not cfg.rollback:
        bundles = sources.choose(ctx, cfg.source, version, facts)
        sources.preflight(ctx, bundles, version, facts)
    if ctx.connection is None:  # planned from a facts file: the pre-flight is all we can know
        names = ", ".join(b.name for b in bundles) or "the previous version"
        fits = f"{facts.arch}, glibc {facts.os.glibc}: fits" if facts.os.glibc else f"{facts.arch}: fits"
        return Change(f"would install Ollama {version} ({names}; {fits})")
    st = read_state(ctx, layout(cfg.mode, cfg.prefix))
    lay = layout(cfg.mode, cfg.prefix).expanded(st.home)
    if cfg.mode == "system" and st.uid != 0:
        raise ModuleFailure(
            f"mode: system installs into {lay.root} as root, but commands on {ctx.host} run as uid {st.uid}",
            hint="set become: true (the play's ollama: key does), or use mode: user (no root needed)",
        )
    plan = make_plan(st, version, {b.variant for b in bundles}, cfg.rollback, lay.binary)
    ctx.report(version=version, current=st.current, previous=st.previous, root=lay.root, bin=lay.link)
    if plan is None:
        ctx.report(msg=f"Ollama {st.current} is current in {lay.root}")
        return None
    uploads: list[Upload] = []
    how = ""
    if plan.install:
        uploads, how = _plan_transfer(ctx, cfg, st, lay, version, bundles)
    summary = ", ".join(plan.actions(lay.root, lay.link, lay.binary, how))
    diffs = []
    if plan.switch_to:
        before = f"{st.current}\n" if st.current else None
        diffs.append(Diff(lay.current, before, f"{plan.switch_to}\n"))
    return Change(summary, diffs, {"plan": plan, "state": st, "layout": lay, "uploads": uploads})


def _plan_transfer(
    ctx: TaskContext, cfg: OllamaConfig, st: InstallState, lay: Layout, version: str, bundles: list[Bundle]
) -> tuple[list[Upload], str]:
    """What must travel to the host, checked against its free space; and how, in words."""
    staging = lay.staging(version)
    if not st.writable and not (ctx.check_mode and ctx.earlier_changes_pending):
        raise ModuleFailure(
            f"cannot create {lay.root} on {ctx.host}: {st.existing} is not writable",
            hint="use mode: system with become, or a prefix the login user owns",
        )
    uploads: list[Upload] = []
    if cfg.source.online:
        zst = [b.name for b in bundles if b.fmt == "tar.zst"]
        if zst and not st.zstd:
            raise ModuleFailure(
                f"Ollama {version} ships {zst[0]} and {ctx.host} has no zstd to unpack it",
                hint="install zstd there, or use source.tarball: deployer then sends the decompressed .tar",
            )
        total = 0
        for b in bundles:
            size = download.remote_size(ctx, st.downloader, download.release_url(cfg.source.url, version, b.name))
            total += size or 0
            uploads.append(Upload(b, None, f"{staging}/{b.name}"))
        how = f"download {human_bytes(total)} on the host" if total else "download on the host"
        _check_space(ctx, st, total)
        return uploads, how
    arts = sources.local_artifacts(ctx, cfg.source, bundles)
    total = sum(a.size for a in arts)
    to_send = 0
    already = 0  # bytes of earlier, interrupted uploads: they take no more space
    notes = []
    for b, art in zip(bundles, arts):
        if b.fmt == "tar.zst" and not st.zstd:
            # the host cannot unpack zstd: it gets the .tar, decompressed here in apply()
            uploads.append(Upload(b, None, f"{staging}/{b.name[: -len('.zst')]}"))
            notes.append(f"{ctx.host} has no zstd: the decompressed .tar is sent")
            to_send += art.size
            continue
        up = Upload(b, art, f"{staging}/{b.name}", transfer.remote_state(ctx, art, f"{staging}/{b.name}"))
        uploads.append(up)
        if up.state.startswith("partial:"):
            have = int(up.state.split(":", 1)[1])
            to_send += art.size - have
            already += have
            notes.append(f"resume: {human_bytes(have)} already there")
        elif up.state == "absent":
            to_send += art.size
        else:
            already += art.size
    _check_space(ctx, st, total, already)
    how = f"push {human_bytes(to_send)}" if to_send else "archive already uploaded"
    return uploads, "; ".join([how, *notes])


def _check_space(ctx: TaskContext, st: InstallState, archive_bytes: int, already: int = 0) -> None:
    """Upload + unpacked need about SPACE_FACTOR x the archives, less what is uploaded already."""
    need = SPACE_FACTOR * archive_bytes - already
    if st.free_bytes is not None and need > st.free_bytes:
        raise ModuleFailure(
            f"not enough space for Ollama at {st.existing} on {ctx.host}: {human_bytes(st.free_bytes)} free, "
            f"~{human_bytes(need)} needed ({SPACE_FACTOR} x the {human_bytes(archive_bytes)} archive: upload + unpacked"
            + (f", less {human_bytes(already)} already uploaded)" if already else ")"),
            hint="free some space there, or choose another prefix",
        )


def apply(ctx: TaskContext, cfg: OllamaConfig, change: Change) -> None:
    plan: InstallPlan = change.data["plan"]
    lay: Layout = change.data["layout"]
    root = shlex.quote(lay.root)
    leftovers = " ".join(shlex.quote(f"{lay.root}/{p}") for p in plan.cleanup)
    ctx.run(f"mkdir -p {root}" + (f" && rm -rf {leftovers}" if leftovers else "")).check(f"prepare {lay.root}")
    if plan.install:
        _install(ctx, cfg, lay, plan, change.data["uploads"], change.data["state"])
    if plan.switch_to:
        steps = []
        if plan.new_previous:
            steps.append(f"ln -sfn {shlex.quote(plan.new_previous)} .previous.new && mv -T .previous.new previous")
        steps.append(f"ln -sfn {shlex.quote(plan.switch_to)} .current.new && mv -T .current.new current")
        ctx.run(f"cd {root} && " + " && ".join(steps)).check(f"switch {lay.current} to {plan.switch_to}")
    if plan.remove:
        old = " ".join(shlex.quote(lay.version_dir(v)) for v in plan.remove)
        ctx.run(f"rm -rf {old}").check(f"remove old versions {', '.join(plan.remove)}")
    if plan.relink:
        link, new = shlex.quote(lay.link), shlex.quote(lay.link + ".deployer-new")
        ctx.run(
            f'mkdir -p "$(dirname {link})" && ln -sfn {shlex.quote(lay.binary)} {new} && mv -Tf {new} {link}'
        ).check(f"link {lay.link}")
    ctx.report(current=plan.switch_to or change.data["state"].current)


def _install(ctx: TaskContext, cfg: OllamaConfig, lay: Layout, plan: InstallPlan, uploads: list[Upload], st: InstallState) -> None:
    """Bring the archives to the host, then unpack them into a fresh, checked, marked directory."""
    version = plan.version
    staged: list[tuple[str, str, str]] = []  # (path on host, format, "<sha256>  <release file>")
    relayed: list[tuple[str, str]] = []  # (sha256, path on host) of archives sent by relay
    for up in uploads:
        if cfg.source.online:
            assert st.downloader is not None
            digest = download.fetch(ctx, st.downloader, cfg.source.url, version, up.bundle, lay.staging(version))
            staged.append((up.dest, up.bundle.fmt, f"{digest}  {up.bundle.name}"))
            continue
        art = up.art
        fmt = up.bundle.fmt
        if art is None:  # .tar.zst for a host without zstd
            assert up.bundle.path is not None
            original = transfer.local_artifact(up.bundle.path)
            art, fmt = sources.decompressed_tar(original), "tar"
            record = f"{original.sha256}  {up.bundle.name}"
        else:
            record = f"{art.sha256}  {up.bundle.name}"
        transfer.push(ctx, art, up.dest, label=f"Ollama {version}: {up.bundle.name}", transfer=cfg.transfer)
        staged.append((up.dest, fmt, record))
        if cfg.transfer == "relay":
            relayed.append((art.sha256, up.dest))
    _unpack(ctx, lay, version, staged)
    # the archives (and their upload markers) are no longer needed: 1-2 GB back
    cleanup = f"rm -rf {shlex.quote(lay.staging(version))}; rmdir {shlex.quote(lay.root + '/.staging')} 2>/dev/null; true"
    if relayed:
        relay.keep_until_task_end(ctx, relayed, cleanup)  # other hosts may be copying them from this one
    else:
        ctx.run(cleanup)


_UNPACK = {
    "tgz": "tar --no-same-owner -xzf {f} -C \"$t\"",
    "tar": "tar --no-same-owner -xf {f} -C \"$t\"",
    "tar.zst": "zstd -dc {f} | tar --no-same-owner -xf - -C \"$t\"",
}


def _unpack(ctx: TaskContext, lay: Layout, version: str, staged: list[tuple[str, str, str]]) -> None:
    """Extract into <version>.tmp-*, check the binary's version, mark, rename to <version>."""
    v = shlex.quote(version)
    extract = "\n".join(_UNPACK[fmt].format(f=shlex.quote(path)) for path, fmt, _ in staged)
    records = " ".join(shlex.quote(rec) for _, _, rec in staged)
    final = shlex.quote(lay.version_dir(version))
    script = f"""set -e
t=$(mktemp -d {shlex.quote(lay.version_dir(version))}.tmp-XXXXXX)
trap 'rm -rf "$t" "$t.old"' EXIT
{extract}
[ -x "$t/bin/ollama" ] || {{ echo "the archive has no bin/ollama" >&2; exit 5; }}
out=$(OLLAMA_HOST=127.0.0.1:9 "$t/bin/ollama" -v 2>&1) || true
printf '%s\\n' "$out" | grep -Fqx -e "Warning: client version is "{v} -e "ollama version is "{v} || {{
  echo "the archive holds another Ollama than "{v}": $(printf '%s' "$out" | tail -n 1)" >&2; exit 5; }}
printf '%s\\n' {records} > "$t/{MARKER}"
chmod 755 "$t"
if [ -e {final} ]; then mv -T {final} "$t.old"; fi
mv -T "$t" {final}
"""
    res = ctx.run(script, timeout=3600)
    if not res.ok:
        raise ModuleFailure(
            f"unpacking Ollama {version} on {ctx.host} failed: {res.tail(4)}",
            hint="nothing was installed at " + lay.version_dir(version) + "; check the archive, then rerun",
        )
