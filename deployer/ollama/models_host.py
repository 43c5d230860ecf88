"""A host's Ollama model store seen from outside the server: one probe, and side-loading a bundle.

The probe (read-only, one round trip) lists ``<models_dir>/blobs`` with sizes,
looks for the model's manifest and measures free space; it is how presence is
judged under --check before Ollama runs, and how a bundle push knows which
blobs the host already has.

A push sends the missing blobs into a staging directory inside the models dir
(resumable and sha256-verified on the host by deployer.transfer), moves them
into ``blobs/`` in one step, and writes the manifest last: Ollama deletes blobs
no manifest names when it starts (unless OLLAMA_NOPRUNE), so a manifest must
never name a blob that is not there yet, and blobs should not sit unreferenced
in ``blobs/`` longer than needed.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from deployer import hostfiles
from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext
from deployer.ollama.bundle import Bundle, BundleBlob
from deployer.hostfiles import sh_path
from deployer.ollama.registry import ModelName, digest_of_filename, human_size
from deployer.transfer import local_artifact, push

STAGING = ".deployer-staging"


@dataclass
class HostStore:
    """What the probe found in a host's models dir."""

    models_dir: str  # absolute, as the host resolved it
    exists: bool
    blobs: dict[str, int] = field(default_factory=dict)  # digest -> size
    manifest_sha256: str | None = None  # of the model's manifest, when present
    free_bytes: int | None = None
    free_at: str = ""
    user_exists: bool | None = None

    @property
    def has_manifest(self) -> bool:
        return self.manifest_sha256 is not None

    def missing(self, bundle: Bundle) -> list[BundleBlob]:
        """The bundle's blobs the host lacks (or holds with the wrong size)."""
        return [b for b in bundle.blobs if self.blobs.get(b.digest) != b.size]


def probe_store(ctx: TaskContext, models_dir: str, name: ModelName, service_user: str | None) -> HostStore:
    """Look at the host's models dir in one read-only round trip."""
    d = sh_path(models_dir)
    user = (f"if id -u {shlex.quote(service_user)} >/dev/null 2>&1; then echo user=1; else echo user=0; fi\n"
            if service_user else "")
    script = (
        f"d={d}\n"
        'printf "dir=%s\\n" "$d"\n'
        '[ -d "$d" ] && echo exists=1\n'
        f'm="$d"/{shlex.quote(name.manifest_relpath)}\n'
        'if [ -f "$m" ]; then printf "manifest=%s\\n" "$(sha256sum "$m" | cut -d" " -f1)"; fi\n'
        '( cd "$d/blobs" 2>/dev/null && stat -c "blob %n %s" -- sha256-* 2>/dev/null )\n'
        'p="$d"; while [ ! -d "$p" ]; do p=$(dirname "$p"); done\n'
        'printf "free %s %s\\n" "$(df -Pk "$p" | awk \'NR==2 {print $4}\')" "$p"\n'
        f"{user}true"
    )
    res = ctx.probe(script)
    if not res.ok:
        raise ModuleFailure(f"cannot look into {models_dir} on {ctx.host}: {res.tail(3)}")
    store = HostStore(models_dir=models_dir, exists=False)
    for line in res.stdout.splitlines():
        key, _, value = line.partition("=")
        words = line.split()
        if key == "dir":
            store.models_dir = value
        elif key == "exists":
            store.exists = True
        elif key == "manifest":
            store.manifest_sha256 = value.strip()
        elif key == "user":
            store.user_exists = value.strip() == "1"
        elif words[:1] == ["blob"] and len(words) == 3 and words[2].isdigit():
            digest = digest_of_filename(words[1])
            if digest:
                store.blobs[digest] = int(words[2])
        elif words[:1] == ["free"] and len(words) >= 3 and words[1].isdigit():
            store.free_bytes = int(words[1]) * 1024
            store.free_at = line.split(None, 2)[2]
    return store


def check_space(ctx: TaskContext, store: HostStore, needed: int, what: str) -> None:
    """Fail before writing when the models dir's filesystem cannot hold `needed` bytes."""
    if store.free_bytes is not None and needed > store.free_bytes:
        raise ModuleFailure(
            f"not enough space for {what} on {ctx.host}: {human_size(needed)} to write into {store.models_dir}, "
            f"{human_size(store.free_bytes)} free at {store.free_at}",
            hint="free space there, or put the models elsewhere (`models_dir` in the play's `ollama:` key)",
        )


@dataclass
class PushResult:
    """What a bundle push sent."""

    blobs_sent: int
    bytes_sent: int
    blobs_skipped: int


def push_bundle(ctx: TaskContext, bundle: Bundle, store: HostStore, user: str | None) -> PushResult:
    """Side-load `bundle` into the host's models dir (see the module docstring for the order)."""
    # "user:" = the user and its login group, as the files Ollama itself writes
    owner = f"{user}:" if user else None
    missing = store.missing(bundle)
    check_space(ctx, store, sum(b.size for b in missing) + len(bundle.manifest.raw), f"the bundle of {bundle.name}")
    # every blob is checked against its name before anything is sent: a corrupt
    # bundle is refused whole and leaves nothing on the host
    for blob in missing:
        bundle.verify_blob(blob)
    d = store.models_dir.rstrip("/") or "/"
    staging = f"{d}/{STAGING}"
    for blob in missing:
        art = local_artifact(blob.path)
        push(ctx, art, f"{staging}/{blob.path.name}", mode="0644", owner=owner,
             label=f"{bundle.name} {blob.digest[7:19]} ({human_size(blob.size)})")
    name = bundle.name
    dirs = [d, f"{d}/blobs", f"{d}/manifests", f"{d}/manifests/{name.host}",
            f"{d}/manifests/{name.host}/{name.namespace}", f"{d}/manifests/{name.host}/{name.namespace}/{name.model}"]
    # directories made here belong to the service user: Ollama writes and prunes in them later
    make = "\n".join(
        f"[ -d {shlex.quote(p)} ] || {{ mkdir {shlex.quote(p)} || exit 1; "
        + (f"chown {shlex.quote(owner)} {shlex.quote(p)} || exit 1; " if owner else "") + "}"
        for p in dirs
    )
    moves = "\n".join(
        f'f={shlex.quote(b.path.name)}; [ "$(stat -c %s "$s/$f")" -eq {b.size} ] || '
        f'{{ echo "staged $f has the wrong size" >&2; exit 3; }}; mv -f "$s/$f" "$d/blobs/$f" && rm -f "$s/.$f.deployer-sha256" || exit 1'
        for b in missing
    )
    script = f"d={shlex.quote(d)}; s={shlex.quote(staging)}\nmkdir -p \"$(dirname \"$d\")\" || exit 1\n{make}\n{moves}\nrmdir \"$s\" 2>/dev/null; true"
    res = ctx.run(script)
    if not res.ok:
        raise ModuleFailure(f"moving the blobs of {name} into {d}/blobs failed: {res.tail(3)}", hint="rerun: what arrived is kept")
    # the manifest last: only now does Ollama see the model, and every blob it names is in place
    hostfiles.write(ctx, f"{d}/{name.manifest_relpath}", bundle.manifest.raw, mode="0644", owner=owner)
    return PushResult(len(missing), sum(b.size for b in missing), len(bundle.blobs) - len(missing))

