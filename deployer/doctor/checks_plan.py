"""Checks of what the playbook needs on a host: free space, free ports, the registry or bundles, the artefacts.

The artefacts are judged where the *run* will look for them - the play's own
paths, rendered for this host - and, where an artefacts directory's
MANIFEST.json records them, against what `deployer stage` wrote (size and
mtime: nothing is re-hashed).
"""

from __future__ import annotations

from pathlib import Path

from deployer.doctor.probe import Extras
from deployer.doctor.verdict import Verdict, fail, ok, skip, warn
from deployer.errors import DeployerError
from deployer.facts.model import HostFacts
from deployer.ollama.bundle import Bundle, BundleError, bundle_dir
from deployer.ollama.download import release_url
from deployer.ollama.install import SPACE_FACTOR
from deployer.ollama.layout import default_models_dir, expand_home, layout
from deployer.ollama.registry import human_size
from deployer.openwebui.imagefile import matching_tag, read_archive
from deployer.stage.manifest import find_manifest
from deployer.stage.plan import HostPlan

STAGE_FIX = "stage them: deployer stage PLAYBOOK -i INVENTORY -o DIR (on a connected machine), and point the play at DIR"


def install_roots(hp: HostPlan) -> list[str]:
    return list(dict.fromkeys(layout(c.mode, c.prefix).root for c in hp.installs))


def models_dirs(hp: HostPlan) -> list[str]:
    dirs = [c.models_dir or default_models_dir(c.mode) for c in hp.services] + hp.models_dirs + [m.models_dir for m in hp.models]
    return list(dict.fromkeys(d for d in dirs if d))


def probe_urls(hp: HostPlan, registry: str) -> list[str]:
    """What the host must reach for what the playbook pulls or downloads there."""
    urls = [f"{registry.rstrip('/')}/v2/"] if hp.pulls else []
    urls += [release_url(r.url, r.item.version, r.item.name) for r in hp.releases if r.local is None]
    return list(dict.fromkeys(urls))


def ports(hp: HostPlan) -> dict[int, str]:
    """Port -> what listens there after the rollout."""
    out: dict[int, str] = {}
    for c in hp.services:
        out[c.port] = "ollama"
    for f in hp.frontends:
        out[f.port] = "open-webui"
    return out


def _size(path: Path | None) -> int | None:
    if path is None:
        return None
    manifest = find_manifest(path)
    entry = manifest.by_file(path) if manifest else None
    if entry is not None:
        return entry.size
    return path.stat().st_size if path.is_file() else None


def disk(hp: HostPlan, facts: HostFacts) -> Verdict:
    """Free space where the archives are unpacked and the models land."""
    needs: dict[str, int] = {}
    for root in install_roots(hp):
        sizes = [_size(r.local) for r in hp.releases]
        if sizes and all(s is not None for s in sizes):
            needs[root] = needs.get(root, 0) + SPACE_FACTOR * sum(s for s in sizes if s)
    for m in hp.models:
        size = m.size
        try:
            size = Bundle.open(bundle_dir(m.bundles, m.name)).total_size
        except BundleError:
            pass
        if size and m.models_dir:
            needs[m.models_dir] = needs.get(m.models_dir, 0) + size
    if not needs:
        return skip("disk", "nothing of known size goes to this host")
    problems, fine = [], []
    for path, need in needs.items():
        # the probe reports each path as it was asked (~ included); others by their nearest probed parent
        d = next((d for d in facts.disks if d.path == path), None) or facts.disk_for(expand_home(path, facts.home or "~"))
        if d is None or d.free_bytes is None:
            problems.append(warn("disk", f"free space at {path} is unknown; about {human_size(need)} is needed"))
        elif d.free_bytes < need:
            problems.append(fail("disk", f"{path}: {human_size(d.free_bytes)} free on {d.mount or d.path}, about {human_size(need)} needed",
                                 "free space there, or choose another prefix / models_dir"))
        else:
            fine.append(f"{path}: {human_size(d.free_bytes)} free, {human_size(need)} needed")
    bad = next((p for p in problems if p.status == "fail"), None) or (problems[0] if problems else None)
    return bad if bad is not None else ok("disk", "; ".join(fine))


def port_use(hp: HostPlan, facts: HostFacts, extras: Extras) -> Verdict:
    wanted = ports(hp)
    if not wanted:
        return skip("ports", "no server of the playbook listens here")
    if not extras.ports_known:
        return warn("ports", "cannot tell which ports are taken (no ss, no /proc/net/tcp)")
    roots = [expand_home(r, facts.home or "~") for r in install_roots(hp)]
    notes = []
    for port, what in sorted(wanted.items()):
        users = extras.listening.get(port)
        if not users:
            notes.append(f"{port} free")
            continue
        desc = ", ".join(u for u in users if u) or "a process this user cannot see"
        if what == "ollama" and any(r and r in u for u in users for r in roots):
            notes.append(f"{port}: this play's Ollama already listens ({desc})")
        elif what == "open-webui" and any(k in u for u in users for k in ("docker-proxy", "open-webui", "open_webui")):
            notes.append(f"{port}: Open WebUI (or its container) already listens")
        elif not any(users):
            return warn("ports", f"port {port} ({what}) is taken by {desc}",
                        "if it is not this playbook's own server, free it or choose another port")
        else:
            key = "ollama: listen" if what == "ollama" else "frontend.open_webui: port"
            return fail("ports", f"port {port} ({what}) is taken by {desc}", f"stop that process, or set {key} to a free port")
    return ok("ports", "; ".join(notes))


def registry(hp: HostPlan, extras: Extras, registry_url: str) -> Verdict:
    """Whether what the host pulls or downloads itself is reachable from it, else whether bundles cover it."""
    pulls = [m for m in hp.models if m.source == "pull"]
    online = [r for r in hp.releases if r.local is None]
    if not pulls and not online:
        return skip("registry", "not needed: Ollama and the models come from the control machine (offline)")
    url = f"{registry_url.rstrip('/')}/v2/"
    reached, detail = extras.reach.get(url, (None, "not tested"))
    detail = detail.removesuffix(" 000").strip()
    problems: list[Verdict] = []
    for r in online:
        rurl = release_url(r.url, r.item.version, r.item.name)
        got, why = extras.reach.get(rurl, (None, "not tested"))
        if not got:
            problems.append(fail("registry", f"{rurl} is not reachable from {hp.host}: {why.removesuffix(' 000')}",
                                 "stage the release and use source.tarball (offline), or give the hosts a proxy (environment: HTTPS_PROXY)"))
    if reached:
        if problems:
            return problems[0]
        return ok("registry", f"{registry_url} reachable from {hp.host} ({', '.join(str(m.name) for m in pulls) or 'downloads'} pulled there)")
    for m in pulls:
        present = _bundle_present(m.bundles, m.name)
        if m.fallback and present:
            problems.append(warn("registry", f"{registry_url} is not reachable from {hp.host} ({detail}): {m.name} comes from its "
                                 "bundle instead (fallback_to_bundle)", "set source: bundle to skip the pull attempts"))
        elif present:
            problems.append(fail("registry", f"{registry_url} is not reachable from {hp.host} ({detail}): pulling {m.name} will time out; "
                                 f"its bundle is staged at {bundle_dir(m.bundles, m.name)}", "set source: bundle for it in the play's models:"))
        else:
            problems.append(fail("registry", f"{registry_url} is not reachable from {hp.host} ({detail}): pulling {m.name} will time out, "
                                 "and no bundle of it is staged", f"{STAGE_FIX}; then source: bundle"))
    if reached is None and not problems:
        return warn("registry", f"cannot test from {hp.host}: {detail}")
    return next((p for p in problems if p.status == "fail"), problems[0]) if problems else ok("registry", "reachable")


def _bundle_present(bundles: Path, name) -> bool:
    try:
        Bundle.open(bundle_dir(bundles, name))
        return True
    except BundleError:
        return False


def artefacts(hp: HostPlan) -> Verdict:
    """Every local artefact the run will read for this host: there, complete, unchanged since staged."""
    items: list[tuple[str, Path, str]] = []  # (what, path, kind)
    for r in hp.releases:
        if r.local is not None:
            items.append((f"{r.item.name} (Ollama {r.item.version})", r.local, "file"))
        if r.sums is not None:
            items.append((f"sha256sum.txt of Ollama {r.item.version}", r.sums, "file"))
    for m in hp.models:
        if m.source == "bundle" or m.fallback:
            items.append((f"the bundle of {m.name}", bundle_dir(m.bundles, m.name), "bundle"))
    for i in hp.images:
        if i.tarball is not None:
            items.append((f"the image {i.ref}", i.tarball, "image:" + i.ref))
    for w in hp.wheels:
        if w.wheelhouse is not None:
            items.append((f"the open-webui wheelhouse{' ' + w.version if w.version else ''}", w.wheelhouse, "wheels:" + (w.version or "")))
    items = list(dict.fromkeys(items))
    if not items:
        return skip("artefacts", "not needed: nothing comes from the control machine")
    missing, changed, verified = [], [], 0
    for what, path, kind in items:
        problem = _artefact_problem(path, kind)
        if problem:
            missing.append(f"{what}: {problem}")
            continue
        manifest = find_manifest(path)
        entry = manifest.by_file(path) if manifest else None
        if entry is not None:
            why = manifest.problem(entry) if manifest else None
            if why:
                changed.append(f"{what}: {why}")
            else:
                verified += 1
    if missing or changed:
        shown = (missing + changed)[:4]
        more = f" (and {len(missing) + len(changed) - len(shown)} more)" if len(missing) + len(changed) > len(shown) else ""
        fix = STAGE_FIX if missing else "stage them again (deployer stage): they changed since"
        return fail("artefacts", "; ".join(shown) + more, fix)
    note = f", {verified} as staged (MANIFEST.json)" if verified else ""
    return ok("artefacts", f"{len(items)} present{note}")


def _artefact_problem(path: Path, kind: str) -> str | None:
    if kind == "bundle":
        try:
            Bundle.open(path)
        except BundleError as exc:
            return exc.message if path.exists() else f"not at {path}"
        return None
    if not path.exists():
        return f"not at {path}"
    if kind.startswith("image:"):
        try:
            archive = read_archive(path)
        except DeployerError as exc:
            return exc.message
        if matching_tag(archive, kind[len("image:"):]) is None:
            return f"{path} holds {', '.join(archive.tags) or 'an untagged image'}, not {kind[len('image:'):]}"
    if kind.startswith("wheels:"):
        version = kind[len("wheels:"):]
        wheels = sorted(p.name for p in path.glob("open_webui-*.whl"))
        if not wheels:
            return f"no open_webui wheel in {path}"
        if version and not any(w.startswith(f"open_webui-{version}-") for w in wheels):
            return f"no open_webui {version} wheel in {path} (it has {', '.join(wheels)})"
    return None
