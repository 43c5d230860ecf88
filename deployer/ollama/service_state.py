"""What ollama_service sees on a host, read in one round trip (the parser is pure).

Besides the binary behind ``current`` and the models directory (owner, free
space, and whether the service user can traverse every parent), it reads the
systemd unit's state in system mode and the detached server's pid file in user
mode. A pid file is only trusted when the process behind it still runs
``.../bin/ollama serve`` (a pid reused by another program is stale).
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field

from deployer.ollama.layout import Layout
from deployer.hostfiles import sh_path

UNIT = "ollama"
_PROPS = ("LoadState", "ActiveState", "UnitFileState", "NeedDaemonReload")


@dataclass
class UserRun:
    """User mode: where the detached server keeps its pid, environment and log (expanded)."""

    pid_file: str
    env_file: str
    log: str


@dataclass
class ServiceState:
    uid: int | None = None
    home: str = ""
    binary: str | None = None  # the versioned binary current points to (resolved)
    current: str | None = None
    systemd: bool = False
    props: dict[str, str] = field(default_factory=dict)
    user_exists: bool = False
    user_group: str | None = None  # the service user's primary group
    user_groups: set[str] = field(default_factory=set)
    host_groups: set[str] = field(default_factory=set)  # of render/video, those that exist
    models: str = ""
    models_exists: bool = False
    models_owner: str | None = None
    models_writable: bool = False
    models_existing: str = "/"  # the nearest existing parent (the dir itself when it exists)
    models_free: int | None = None
    untraversable: list[str] = field(default_factory=list)
    pid: int | None = None
    pid_cmdline: str | None = None  # None: no such process
    port_busy: bool = False  # something listens on the port the server is to use

    @property
    def active(self) -> bool:
        return self.props.get("ActiveState") in ("active", "activating", "reloading")

    @property
    def enabled(self) -> bool:
        if self.props.get("LoadState") == "not-found":
            return False  # systemctl may say "static" for a unit it cannot find
        return self.props.get("UnitFileState") in ("enabled", "enabled-runtime", "static", "indirect", "generated", "linked")

    @property
    def server_running(self) -> bool:
        """User mode: the pid file names a live `ollama serve` (of any prefix: it holds our pid file)."""
        words = (self.pid_cmdline or "").split()
        return self.pid is not None and "serve" in words and any(w.endswith("/bin/ollama") for w in words)


def probe_script(lay: Layout, models_dir: str, system: bool, service_user: str, pid_file: str, port: int = 0) -> str:
    """Read-only shell printing key=value lines about the service (see :func:`parse_state`).

    With `port`: whether anything listens on it (/proc/net/tcp*, no tools needed).
    """
    u = shlex.quote(service_user)
    lines = [
        f"root={sh_path(lay.root)}; m={sh_path(models_dir)}",
        'echo "uid=$(id -u)"; echo "home=$HOME"; echo "models=$m"',
        '[ -L "$root/current" ] && echo "current=$(readlink "$root/current")"',
        'b=$(readlink -f "$root/current/bin/ollama" 2>/dev/null) && [ -x "$b" ] && echo "binary=$b"',
        '[ -d /run/systemd/system ] && echo "systemd=yes"',
        'if [ -d "$m" ]; then echo "models_exists=yes"; stat -c "models_owner=%U" "$m"; [ -w "$m" ] && echo "models_writable=yes"; fi',
        'p=$m; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; echo "models_existing=$p"',
        "df -Pk \"$p\" 2>/dev/null | awk 'NR == 2 { print \"models_free_kib=\" $4 }'",
    ]
    if port:
        lines.append(
            f"for f in /proc/net/tcp /proc/net/tcp6; do [ -r $f ] && awk -v p=:{port:04X} "
            "'$4 == \"0A\" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' $f "
            '&& { echo "port_busy=yes"; break; }; done'
        )
    if system:
        lines += [
            f'if id -u {u} >/dev/null 2>&1; then echo "user_exists=yes"; echo "user_group=$(id -gn {u})"; echo "user_groups=$(id -nG {u})"',
            # every existing parent must let the service user through (x bit, ACLs: the kernel decides)
            '  d=$m; while [ "$d" != / ]; do d=$(dirname "$d"); [ -d "$d" ] || continue',
            f'    if command -v runuser >/dev/null 2>&1; then runuser -u {u} -- test -x "$d" || echo "untraversable=$d"',
            '    elif [ $(( 0$(stat -c %a "$d") & 1 )) = 0 ]; then echo "untraversable=$d"; fi',
            "  done",
            "fi",
            'for g in render video; do getent group $g >/dev/null 2>&1 && echo "host_group=$g"; done',
            # one systemctl call (all properties; the parser keeps _PROPS): each call can cost ~60 ms
            f"if [ -d /run/systemd/system ]; then systemctl show {UNIT}; fi",
        ]
    else:
        lines += [
            f"pf={sh_path(pid_file)}",
            'if [ -f "$pf" ]; then pid=$(head -c 20 "$pf" | tr -dc 0-9); echo "pid=$pid"',
            '  [ -n "$pid" ] && c=$(tr "\\0" " " < "/proc/$pid/cmdline" 2>/dev/null) && [ -n "$c" ] && echo "pid_cmdline=$c"',
            "fi",
        ]
    lines.append("true")
    return "\n".join(lines)


def parse_state(text: str) -> ServiceState:
    st = ServiceState()
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key in _PROPS:
            st.props[key] = value.strip()
        elif key == "uid" and value.isdigit():
            st.uid = int(value)
        elif key in ("home", "binary", "models", "models_owner", "models_existing", "pid_cmdline", "user_group"):
            setattr(st, key, value.strip() if key == "pid_cmdline" else value)
        elif key == "current":
            st.current = posixpath.basename(value.rstrip("/")) or None
        elif key in ("systemd", "user_exists", "models_exists", "models_writable", "port_busy"):
            setattr(st, key, value == "yes")
        elif key == "user_groups":
            st.user_groups = set(value.split())
        elif key == "host_group":
            st.host_groups.add(value)
        elif key == "untraversable":
            st.untraversable.append(value)
        elif key == "models_free_kib" and value.isdigit():
            st.models_free = int(value) * 1024
        elif key == "pid" and value.isdigit():
            st.pid = int(value)
    return st


def dirs_to_create(models: str, existing: str) -> list[str]:
    """The directories between the nearest existing parent and `models`, parents first."""
    out = []
    d = models.rstrip("/")
    while d and d != existing.rstrip("/") and d != "/":
        out.append(d)
        d = posixpath.dirname(d)
    return out[::-1]
