"""One staging pass: what to fetch (from a plan or an explicit list), fetched item by item.

Every item is independent: one that fails (a 404 tag, a corrupt blob, a
connection that keeps dropping) is reported with its reason and the others
are still staged; what a failed item fetched so far stays for the rerun. An
item the manifest records as staged and unchanged is not fetched again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Literal

from deployer.errors import DeployerError
from deployer.ollama.registry import ModelName
from deployer.ollama.release import version_tuple
from deployer.stage import layout, models, openwebui, releases
from deployer.stage.http import Http
from deployer.stage.manifest import ArtifactsManifest, Entry
from deployer.stage.plan import Plan
from deployer.stage.releases import ReleaseItem

Status = Literal["fetched", "kept", "failed"]


@dataclass
class Work:
    """The distinct things to stage, each with the hosts that need it."""

    releases: dict[tuple[ReleaseItem, str], list[str]] = field(default_factory=dict)  # (item, url base)
    models: dict[ModelName, list[str]] = field(default_factory=dict)
    images: dict[str, list[str]] = field(default_factory=dict)
    wheels: dict[tuple[str | None, str], tuple[str | None, list[str]]] = field(default_factory=dict)  # (version, arch) -> (oldest glibc, hosts)

    def add_release(self, item: ReleaseItem, url: str, host: str = "") -> None:
        self.releases.setdefault((item, url), []).extend([host] if host else [])

    def add_model(self, name: ModelName, host: str = "") -> None:
        key = next((k for k in self.models if k.same(name)), name)
        self.models.setdefault(key, []).extend([host] if host else [])

    def add_image(self, ref: str, host: str = "") -> None:
        self.images.setdefault(ref, []).extend([host] if host else [])

    def add_wheels(self, version: str | None, arch: str, glibc: str | None, host: str = "") -> None:
        old, hosts = self.wheels.get((version, arch), (glibc, []))
        oldest = min((g for g in (old, glibc) if g), key=version_tuple, default=None)
        self.wheels[(version, arch)] = (oldest, hosts + ([host] if host else []))

    @classmethod
    def of_plan(cls, plan: Plan) -> "Work":
        work = cls()
        for host, hp in plan.hosts.items():
            for r in hp.releases:
                work.add_release(r.item, r.url, host)
            for m in hp.models:
                work.add_model(m.name, host)
            for i in hp.images:
                work.add_image(i.ref, host)
            for w in hp.wheels:
                work.add_wheels(w.version, w.arch, w.glibc, host)
        return work

    def empty(self) -> bool:
        return not (self.releases or self.models or self.images or self.wheels)


@dataclass
class Outcome:
    """What happened to one item."""

    kind: str
    name: str
    version: str
    arch: str | None
    status: Status
    hosts: list[str]
    bytes: int = 0
    file: str | None = None
    size: int | None = None
    error: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Options:
    """Where from, and how."""

    release_url: str | None = None  # overrides the plays' source.url
    registry_url: str | None = None
    pip: openwebui.PipOptions = field(default_factory=openwebui.PipOptions)
    refresh: bool = False


def stage(work: Work, root: Path, http: Http, docker: openwebui.Docker, options: Options) -> list[Outcome]:
    """Stage everything in `work` into `root`; one Outcome per item, failures included."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = ArtifactsManifest.load(root)
    out: list[Outcome] = []
    by_release: dict[tuple[str, str], list[tuple[ReleaseItem, list[str]]]] = {}
    for (item, url), hosts in work.releases.items():
        by_release.setdefault((item.version, options.release_url or url), []).append((item, hosts))
    for (version, base), items in by_release.items():
        try:
            checksums, _ = releases.sums(http, root, manifest, version, base)
        except DeployerError as exc:
            out += [_failed("ollama-release", i.name, version, i.arch, hosts, exc) for i, hosts in items]
            continue
        for item, hosts in items:
            out.append(_one("ollama-release", item.name, version, item.arch, hosts,
                            partial(releases.stage_archive, http, root, manifest, item, base, checksums)))
    for name, hosts in work.models.items():
        out.append(_one("model", name.short, name.tag, None, hosts,
                        partial(models.stage_model, http, root, manifest, name, options.registry_url, options.refresh)))
    for ref, hosts in work.images.items():
        out.append(_one("open-webui-image", ref, ref.rpartition(":")[2], None, hosts,
                        partial(openwebui.stage_image, docker, root, manifest, ref, options.refresh)))
    for (version, arch), (glibc, hosts) in work.wheels.items():
        out.append(_one("open-webui-wheelhouse", "open-webui", version or "latest", arch, hosts,
                        partial(openwebui.stage_wheelhouse, root, manifest, version, arch, glibc, options.pip,
                                docker.environ, refresh=options.refresh)))
    return out


def _one(kind: str, name: str, version: str, arch: str | None, hosts: list[str],
         fetch: Callable[[], tuple[Entry, int | None]]) -> Outcome:
    try:
        entry, moved = fetch()
    except DeployerError as exc:
        return _failed(kind, name, version, arch, hosts, exc)
    return Outcome(kind, name, version, entry.arch or arch, "kept" if moved is None else "fetched", sorted(set(hosts)),
                   moved or 0, entry.file, entry.size)


def _failed(kind: str, name: str, version: str, arch: str | None, hosts: list[str], exc: DeployerError) -> Outcome:
    return Outcome(kind, name, version, arch, "failed", sorted(set(hosts)), error=str(exc))


def advice(plan: Plan, root: Path) -> list[str]:
    """Where the plays' own paths differ from what was staged: the lines to change for the offline run."""
    tips: list[str] = []

    def tip(text: str) -> None:
        if text not in tips:
            tips.append(text)

    for host, hp in plan.hosts.items():
        for r in hp.releases:
            staged = layout.release_file(root, r.item.version, r.item.name)
            sums = layout.sums_file(root, r.item.version)
            if r.local is None and r.item.variant:
                tip(f"ollama: offline, nodes with AMD GPUs get source.rocm_tarball: {staged}")
            elif r.local is None:
                templated = r.item.name.replace(f"-{r.item.arch}", "-{{ deployer_facts.arch }}", 1)
                tip(f"ollama: the play downloads Ollama on the hosts (source.online); offline: source: "
                    f"{{tarball: \"{layout.release_file(root, r.item.version, templated)}\", sha256sums: {sums}}}")
            elif _differ(r.local, staged):
                field_name = "rocm_tarball" if r.item.variant else "tarball"
                tip(f"{host}: ollama.source.{field_name} is {r.local}, but it was staged to {staged}")
            if r.sums is not None and _differ(r.sums, sums):
                tip(f"{host}: ollama.source.sha256sums is {r.sums}, but it was staged to {sums}")
        for m in hp.models:
            if m.source == "pull" and not m.fallback:
                tip(f"models: {m.name.model} is pulled from the registry on the hosts; offline: source: bundle, "
                    f"bundles: {layout.bundles_dir(root)}")
            elif _differ(m.bundles, layout.bundles_dir(root)):
                tip(f"{host}: the bundles of {m.name} are looked for in {m.bundles}, but were staged to {layout.bundles_dir(root)}")
        for i in hp.images:
            staged = layout.image_file(root, i.ref)
            if i.tarball is None:
                tip(f"frontend: Open WebUI's image is pulled on the hosts; offline: image_tarball: {staged}")
            elif _differ(i.tarball, staged):
                tip(f"{host}: image_tarball is {i.tarball}, but the image was staged to {staged}")
        for w in hp.wheels:
            if w.wheelhouse is None or _differ(w.wheelhouse, layout.wheelhouse_dir(root)):
                tip(f"{host}: wheelhouse is {w.wheelhouse}, but the wheels were staged to {layout.wheelhouse_dir(root)}")
    return tips


def _differ(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() != b.expanduser().resolve()

