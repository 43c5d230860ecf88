"""User mode: `ollama serve` detached under the login user, without root or systemd (HPC).

    ~/.ollama/run/ollama.pid   the server's pid (trusted only while that process runs this install's serve)
    ~/.ollama/run/ollama.env   the environment it was started with (sh, sourced by the start command)
    ~/.ollama/logs/server.log  its output

The server gets a clean environment (``env -i`` + the env file), so what the
login shell happens to carry (a Slurm job's ROCR_VISIBLE_DEVICES, a stray
OLLAMA_HOST) cannot leak in; it runs in its own session (setsid), so it outlives
the SSH connection. A rerun restarts it only when the env file's text would
change (settings, or the binary `current` points to) or it does not answer.
"""

from __future__ import annotations

import posixpath
import shlex

from deployer import hostfiles
from deployer.errors import ModuleFailure
from deployer.modules.base import Diff
from deployer.ollama import readiness
from deployer.ollama.service import Context, Step, port_taken
from deployer.ollama.service_files import SERVICE_PATH, user_env_text

_ALIVE = "c=$(tr '\\0' ' ' < /proc/{pid}/cmdline 2>/dev/null) && [ -n \"$c\" ]"


def plan(c: Context) -> list[Step]:
    ctx, st, run = c.ctx, c.st, c.run
    running = st.server_running
    stale = None
    if st.pid is not None and not running:
        why = "its process is gone" if st.pid_cmdline is None else f"pid {st.pid} is now: {st.pid_cmdline[:60]}"
        stale = f"remove the stale pid file ({why})"
    if c.state == "stopped":
        if running:
            return [Step(f"stop ollama serve (pid {st.pid})", lambda: _stop(c, st.pid))]
        if stale:
            return [Step(stale, lambda: ctx.run(f"rm -f {shlex.quote(run.pid_file)}").check("remove pid file"))]
        return []
    if st.models_exists and not st.models_writable:
        raise ModuleFailure(
            f"the models dir {st.models} on {ctx.host} is not writable by the login user",
            hint="choose a models_dir you own (e.g. on scratch), or ask its owner for write access",
        )
    steps: list[Step] = []
    if not st.models_exists:
        steps.append(Step(f"create {st.models}", lambda: ctx.run(
            f"mkdir -p {shlex.quote(st.models)}").check(f"create {st.models}")))
    env_text = user_env_text(c.env, c.binary)
    data = hostfiles.read(ctx, run.env_file)
    old_env = None if data is None else data.decode("utf-8", "replace")
    if old_env != env_text:
        c.diffs.append(Diff(run.env_file, old_env, env_text))
    if running and old_env == env_text:
        if readiness.answers(ctx, c.cfg):
            return steps
        why = f"it does not answer on {c.cfg.listen}"
    else:
        why = "settings or binary changed"
    if running:
        words = f"restart ollama serve (pid {st.pid}: {why})"
    elif st.port_busy:
        raise port_taken(ctx, c.cfg)
    else:
        words = f"start ollama serve on {c.cfg.listen}" + (f" ({stale}: the start replaces it)" if stale else "")
    steps.append(Step(words, lambda: _start(c, env_text, st.pid if running else None)))
    return steps


def _stop(c: Context, pid: int | None) -> None:
    alive = _ALIVE.format(pid=pid)
    script = f"""kill -TERM {pid} 2>/dev/null || true
i=0; while {alive} && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if {alive}; then kill -KILL {pid} 2>/dev/null; sleep 0.2; fi
rm -f {shlex.quote(c.run.pid_file)}"""
    c.ctx.run(script).check(f"stop ollama serve (pid {pid})")


def _start(c: Context, env_text: str, old_pid: int | None) -> None:
    ctx, run = c.ctx, c.run
    if old_pid is not None:
        _stop(c, old_pid)
    run_dir, log_dir = posixpath.dirname(run.pid_file), posixpath.dirname(run.log)
    ctx.run(f"mkdir -p {shlex.quote(run_dir)} {shlex.quote(log_dir)}").check("create the run and log dirs")
    # the env file may carry a proxy's credentials: the login user's eyes only
    hostfiles.write(ctx, run.env_file, env_text.encode(), mode="0600")
    pf = shlex.quote(run.pid_file)
    script = f"""rm -f {pf}; cd "$HOME" || exit 1
env -i HOME="$HOME" USER="$(id -un)" LOGNAME="$(id -un)" PATH={shlex.quote(SERVICE_PATH)} \\
  setsid sh -c 'echo $$ > "$1.new" && mv -f "$1.new" "$1"; . "$2"; exec "$3" serve' ollama-serve \\
  {pf} {shlex.quote(run.env_file)} {shlex.quote(c.binary)} >> {shlex.quote(run.log)} 2>&1 < /dev/null &
i=0; while [ ! -s {pf} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
cat {pf}"""
    res = ctx.run(script)
    pid = res.stdout.strip()
    if not res.ok or not pid.isdigit():
        raise ModuleFailure(f"could not start ollama serve on {ctx.host}: {res.tail(3) or 'no pid file'}")

    def alive() -> bool:
        return ctx.probe(_ALIVE.format(pid=pid)).ok

    version = readiness.wait_ready(ctx, c.cfg, c.wait, lambda: readiness.file_log(ctx, run.log), run.log, alive)
    readiness.check_version(ctx, c.cfg, version, c.st.current)
    ctx.report(running_version=version, pid=int(pid), log=run.log)
