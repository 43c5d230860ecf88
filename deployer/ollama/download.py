"""`source.online: true`: the host downloads the release itself (curl or wget there).

Upstream's files are ``<url>/v<version>/<file>`` and ``<url>/v<version>/sha256sum.txt``.
check() only asks whether the host reaches the archive (a HEAD request, which
also gives its size); apply() downloads into the staging dir with resume
(``curl -C -`` / ``wget -c``) and verifies the sha256 before anything is
extracted.
"""

from __future__ import annotations

import re
import shlex

from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext
from deployer.ollama.sources import Bundle

_TIMEOUT = 20


def release_url(base: str, version: str, name: str) -> str:
    return f"{base.rstrip('/')}/v{version}/{name}"


def _no_internet(ctx: TaskContext, url: str, detail: str) -> ModuleFailure:
    return ModuleFailure(
        f"{ctx.host} cannot download {url}: {detail}",
        hint="no internet there? use source.tarball (offline); behind a proxy: HTTPS_PROXY in the play's environment:",
    )


def remote_size(ctx: TaskContext, downloader: str | None, url: str) -> int | None:
    """Check from the host that `url` answers; its size when the server says. Raises when it does not."""
    if downloader is None:
        raise ModuleFailure(
            f"online: true needs curl or wget on {ctx.host}, and it has neither",
            hint="install curl there, or use source.tarball (offline)",
        )
    q = shlex.quote(url)
    if downloader == "curl":
        res = ctx.probe(f"curl -fsSIL --max-time {_TIMEOUT} {q}", timeout=_TIMEOUT + 10)
        headers = res.stdout
        detail = res.stderr.strip() or f"curl exited {res.rc}"
    else:
        res = ctx.probe(f"wget -q -S --spider -T {_TIMEOUT} -t 1 {q} 2>&1", timeout=_TIMEOUT + 10)
        headers = res.stdout
        detail = (res.stdout.strip().splitlines() or [f"wget exited {res.rc}"])[-1]
    if not res.ok:
        raise _no_internet(ctx, url, detail)
    sizes = re.findall(r"(?im)^\s*content-length:\s*(\d+)", headers)
    return int(sizes[-1]) if sizes else None


def fetch(ctx: TaskContext, downloader: str, base: str, version: str, bundle: Bundle, staging: str) -> str:
    """Download `bundle` into `staging`, verified against the release's sha256sum.txt; its digest."""
    url = release_url(base, version, bundle.name)
    sums_url = release_url(base, version, "sha256sum.txt")
    if downloader == "curl":
        get_sums = f"curl -fsSL --max-time 60 -o sha256sum.txt {shlex.quote(sums_url)}"
        get_file = f"curl -fsSL --retry 3 -C - -o \"$f.part\" {shlex.quote(url)}"
    else:
        get_sums = f"wget -q -T 60 -O sha256sum.txt {shlex.quote(sums_url)}"
        get_file = f"wget -q -c -T 60 -O \"$f.part\" {shlex.quote(url)}"
    script = f"""set -e
mkdir -p {shlex.quote(staging)}; cd {shlex.quote(staging)}; f={shlex.quote(bundle.name)}
{get_sums} || {{ echo "cannot download {sums_url}" >&2; exit 6; }}
want=$(awk -v n="$f" '$2 == n || $2 == "./" n || $2 == "*" n {{ print $1 }}' sha256sum.txt)
[ -n "$want" ] || {{ echo "sha256sum.txt of {version} lists no $f" >&2; exit 7; }}
have=
[ -f "$f.part" ] && have=$(sha256sum "$f.part" | cut -d' ' -f1)
if [ "$have" != "$want" ]; then
  # resume what an interrupted run left; a part that cannot be resumed is fetched again
  {get_file} || {{ rm -f "$f.part"; {get_file}; }} || {{ echo "cannot download {url}" >&2; exit 6; }}
  have=$(sha256sum "$f.part" | cut -d' ' -f1)
fi
[ "$have" = "$want" ] || {{ rm -f "$f.part"; echo "sha256 mismatch: downloaded $have, sha256sum.txt says $want" >&2; exit 8; }}
mv -f "$f.part" "$f"; echo "digest=$have"
"""
    res = ctx.run(script, timeout=6 * 3600)
    if res.rc == 6:
        raise _no_internet(ctx, url, res.tail(3))
    if not res.ok:
        raise ModuleFailure(f"download of {bundle.name} on {ctx.host} failed: {res.tail(3)}", hint="rerun: the download resumes")
    digest = next((ln.split("=", 1)[1] for ln in res.stdout.splitlines() if ln.startswith("digest=")), "")
    return digest.strip()
