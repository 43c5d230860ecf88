"""What is installed on a host (one read-only probe) and what an install would change (pure).

:func:`probe_script` reads the install root in one round trip; :func:`parse_state`
turns its output into an :class:`InstallState`; :func:`make_plan` compares that
with what is wanted. The last two are pure, so the decisions are unit-tested
without a host.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from deployer.errors import InputError, ModuleFailure
from deployer.ollama.layout import MARKER, Layout
from deployer.hostfiles import sh_path
from deployer.ollama.release import parse_archive_name

#: versions kept on a host: the current one and the one before it (for rollback)
KEEP = 2


def probe_script(lay: Layout) -> str:
    """Shell that prints the state of `lay` as key=value / keyword lines. Reads only."""
    return f"""root={sh_path(lay.root)}; link={sh_path(lay.link)}
echo "uid=$(id -u)"; echo "home=$HOME"; echo "root=$root"; echo "link=$link"
for n in current previous; do [ -L "$root/$n" ] && echo "$n=$(readlink "$root/$n")"; done
if [ -d "$root" ]; then
  for d in "$root"/*; do
    [ -d "$d" ] && [ ! -L "$d" ] || continue
    b=${{d##*/}}
    case "$b" in *.tmp-*) echo "tmp $b"; continue ;; esac
    if [ -f "$d/{MARKER}" ]; then echo "installed $b $(tr '\\n' ' ' < "$d/{MARKER}")"; else echo "unmarked $b"; fi
  done
  for d in "$root"/.staging/*; do [ -e "$d" ] && echo "staged ${{d##*/}}"; done
fi
if [ -L "$link" ]; then echo "linkto=$(readlink "$link")"; elif [ -e "$link" ]; then echo "linkfile=yes"; fi
command -v zstd >/dev/null 2>&1 && echo "zstd=yes"
for t in curl wget; do command -v $t >/dev/null 2>&1 && echo "downloader=$t" && break; done
p=$root; while [ ! -e "$p" ]; do p=$(dirname "$p"); done
echo "existing=$p"; [ -w "$p" ] && echo "writable=yes"
df -Pk "$p" 2>/dev/null | awk 'NR == 2 {{ print "free_kib=" $4 }}'
true"""


@dataclass
class InstallState:
    """One host's install root, as probed."""

    uid: int | None = None
    home: str = ""
    root: str = ""
    link: str = ""
    current: str | None = None
    previous: str | None = None
    #: version -> variants ("" = main bundle, "rocm", ...) its marker lists
    installed: dict[str, set[str]] = field(default_factory=dict)
    unmarked: set[str] = field(default_factory=set)
    tmp_dirs: list[str] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)
    link_target: str | None = None
    link_is_file: bool = False
    zstd: bool = False
    downloader: str | None = None
    existing: str = "/"
    writable: bool = False
    free_bytes: int | None = None


def _variants(marker_words: list[str]) -> set[str]:
    """Marker lines are '<sha256>  <archive name>': the variants of the names listed."""
    out = set()
    for word in marker_words:
        if len(word) == 64 or not word:
            continue
        try:
            out.add(parse_archive_name(word).variant)
        except InputError:  # a name that is not upstream's counts as the main bundle
            out.add("")
    return out


def parse_state(text: str) -> InstallState:
    """The probe's output -> InstallState."""
    st = InstallState()
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        words = line.split()
        if words[:1] == ["installed"] and len(words) >= 2:
            st.installed[words[1]] = _variants(words[2:])
        elif words[:1] == ["unmarked"] and len(words) == 2:
            st.unmarked.add(words[1])
        elif words[:1] == ["tmp"] and len(words) == 2:
            st.tmp_dirs.append(words[1])
        elif words[:1] == ["staged"] and len(words) == 2:
            st.staged.append(words[1])
        elif not sep:
            continue
        elif key == "uid" and value.isdigit():
            st.uid = int(value)
        elif key in ("home", "root", "link", "existing", "downloader"):
            setattr(st, key, value)
        elif key in ("current", "previous"):
            setattr(st, key, posixpath.basename(value.rstrip("/")) or None)
        elif key == "linkto":
            st.link_target = value
        elif key == "linkfile":
            st.link_is_file = True
        elif key in ("zstd", "writable"):
            setattr(st, key, value == "yes")
        elif key == "free_kib" and value.isdigit():
            st.free_bytes = int(value) * 1024
    return st


@dataclass
class InstallPlan:
    """What ollama_install would do on one host."""

    version: str
    install: bool = False
    replace: bool = False  # <root>/<version> exists but is not a complete install of what is wanted
    switch_from: str | None = None
    switch_to: str | None = None
    new_previous: str | None = None
    remove: list[str] = field(default_factory=list)
    cleanup: list[str] = field(default_factory=list)  # leftovers, relative to the root
    relink: bool = False
    link_was_file: bool = False
    rollback: bool = False

    def actions(self, root: str, link: str, binary: str, transfer: str = "") -> list[str]:
        """The plan in words, e.g. ['install 0.5.7 (push 1.6 GiB)', 'switch current 0.5.5 -> 0.5.7']."""
        out = []
        if self.install:
            out.append(f"install {self.version}" + (f" ({transfer})" if transfer else ""))
        if self.replace:
            out.append(f"replace the incomplete {root}/{self.version}")
        if self.switch_to:
            what = f"switch current {self.switch_from} -> {self.switch_to}" if self.switch_from else f"set current -> {self.switch_to}"
            out.append(what + (" (rollback)" if self.rollback else ""))
        if self.remove:
            out.append(f"remove old {', '.join(self.remove)} (keeping {KEEP} versions)")
        if self.cleanup:
            out.append(f"clean up {', '.join(self.cleanup)} (left by an interrupted install)")
        if self.relink:
            out.append(f"link {link} -> {binary}" + (" (replacing a file)" if self.link_was_file else ""))
        return out


def make_plan(st: InstallState, version: str, variants: set[str], rollback: bool, binary: str) -> InstallPlan | None:
    """Compare the probed state with what is wanted; None when nothing would change.

    `variants`: the bundles the install dir must hold ("" and maybe "rocm").
    `binary`: what the PATH link must point to (expanded).
    """
    plan = InstallPlan(version, rollback=rollback)
    current = st.current if st.current in st.installed else None
    previous = st.previous if st.previous in st.installed else None
    if rollback:
        if st.current == version:
            if previous is None or previous == version:
                raise ModuleFailure(
                    f"cannot roll back from {version}: no previous version is kept in {st.root}",
                    hint="name the version to run instead (ollama version: X.Y.Z)",
                )
            plan.switch_from, plan.switch_to, plan.new_previous = version, previous, version
        target, keep_prev = (plan.switch_to or st.current), (plan.new_previous or previous)
    else:
        have = st.installed.get(version)
        if have is None or not variants <= have:
            plan.install = True
            plan.replace = version in st.unmarked or have is not None
        if st.current != version:
            plan.switch_from, plan.switch_to = st.current, version
            if current is not None:
                plan.new_previous = current
        target, keep_prev = version, (plan.new_previous or previous)
    keep = {target, keep_prev} - {None}
    plan.remove = sorted((v for v in st.installed if v not in keep), key=_vkey)
    plan.cleanup = sorted(st.tmp_dirs) + [f".staging/{v}" for v in sorted(st.staged) if not (plan.install and v == version)]
    plan.relink = st.link_target != binary
    plan.link_was_file = plan.relink and st.link_is_file
    nothing = not (plan.install or plan.switch_to or plan.remove or plan.cleanup or plan.relink)
    return None if nothing else plan


def _vkey(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in version.replace("-", ".").split("."))
