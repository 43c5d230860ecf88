"""Executor semantics on real local hosts (ansible_connection=local): batches, failures, handlers, tags, check mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer import playbook
from deployer.errors import CheckModeViolation
from deployer.modules import register
from deployer.modules.base import Change, Module, ModuleArgs, TaskContext
from deployer.executor import Executor, RunOptions, batches, selected
from deployer.facts.model import HostFacts
from deployer.inventory import load_inventory


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def play_start(self, play, hosts):
        self.events.append(("play", play.name, tuple(hosts)))

    def task_start(self, task, handler):
        self.events.append(("handler" if handler else "task", task.name))

    def host_result(self, r):
        self.events.append(("result", r.task, r.host, r.status))

    def progress(self, *a):
        pass

    def notice(self, m):
        self.events.append(("notice", m))

    def results(self, task=None):
        return {(e[1], e[2]): e[3] for e in self.events if e[0] == "result" and (task is None or e[1] == task)}


def run(tmp_path: Path, text: str, hosts: int = 3, **opts):
    inv = tmp_path / "hosts.ini"
    inv.write_text("[web]\n" + "".join(f"h{i} ansible_connection=local\n" for i in range(1, hosts + 1)))
    pb = tmp_path / "pb.yml"
    pb.write_text(text)
    rec = Recorder()
    ex = Executor([playbook.load(pb)], load_inventory([str(inv)]), RunOptions(**opts), rec, lambda c: HostFacts(hostname="x", arch="amd64"))
    report = ex.run()
    return report, rec


def test_batches():
    hosts = [f"h{i}" for i in range(10)]
    assert batches(hosts, None) == [hosts]
    assert [len(b) for b in batches(hosts, 3)] == [3, 3, 3, 1]
    assert [len(b) for b in batches(hosts, "50%")] == [5, 5]
    assert [len(b) for b in batches(hosts, [1, 2, "50%"])] == [1, 2, 5, 2]
    assert [len(b) for b in batches(hosts[:3], "10%")] == [1, 1, 1]


def test_failed_host_leaves_play_others_finish(tmp_path):
    report, rec = run(tmp_path, """
- hosts: web
  tasks:
    - fail: {msg: boom}
      when: inventory_hostname == 'h2'
    - debug: {msg: after}
""")
    assert rec.results("debug") == {("debug", "h1"): "ok", ("debug", "h3"): "ok"}
    assert report.failed_hosts == ["h2"]
    assert report.stats["h2"].failed == 1


def test_failed_host_is_skipped_in_later_plays(tmp_path):
    report, rec = run(tmp_path, """
- hosts: web
  tasks:
    - fail: {msg: boom}
      when: inventory_hostname == 'h1'
- hosts: web
  tasks:
    - debug: {msg: second}
""")
    assert set(rec.results("debug")) == {("debug", "h2"), ("debug", "h3")}


def test_serial_runs_batches_in_order(tmp_path):
    report, rec = run(tmp_path, """
- hosts: web
  serial: 2
  tasks:
    - debug: {msg: one}
      name: one
    - debug: {msg: two}
      name: two
""")
    order = [(e[1], e[2]) for e in rec.events if e[0] == "result"]
    assert [o[0] for o in order] == ["one", "one", "two", "two", "one", "two"]
    assert {o[1] for o in order[:4]} == {"h1", "h2"}


def test_max_fail_percentage_strictly_exceeded_stops_play(tmp_path):
    # 1 of 4 failed = 25%, not more than 25: goes on; 2 of 4 = 50% > 25: stops
    text = """
- hosts: web
  max_fail_percentage: 25
  tasks:
    - fail: {msg: boom}
      when: inventory_hostname in {fails}
    - debug: {msg: after}
"""
    report, rec = run(tmp_path, text.replace("{fails}", "['h1']"), hosts=4)
    assert len(rec.results("debug")) == 3 and not report.aborted
    report, rec = run(tmp_path, text.replace("{fails}", "['h1', 'h2']"), hosts=4)
    assert rec.results("debug") == {} and "more than max_fail_percentage 25%" in report.aborted[0]


def test_any_errors_fatal(tmp_path):
    report, rec = run(tmp_path, """
- hosts: web
  any_errors_fatal: true
  tasks:
    - fail: {msg: boom}
      when: inventory_hostname == 'h3'
    - debug: {msg: after}
""")
    assert rec.results("debug") == {}
    assert "any_errors_fatal" in report.aborted[0]


def test_handlers_run_once_only_where_notified(tmp_path):
    out = tmp_path / "out"
    report, rec = run(tmp_path, f"""
- hosts: web
  tasks:
    - copy: {{content: "x", dest: "{out}-{{{{ inventory_hostname }}}}"}}
      when: inventory_hostname != 'h2'
      notify: restart
    - copy: {{content: "y", dest: "{out}2-{{{{ inventory_hostname }}}}"}}
      when: inventory_hostname != 'h2'
      notify: restart
  handlers:
    - name: restart
      debug: {{msg: restarted}}
""")
    handler_results = [e for e in rec.events if e[0] == "result" and e[1] == "restart"]
    assert sorted(e[2] for e in handler_results) == ["h1", "h3"]


def test_check_mode_changes_nothing_and_reports_change(tmp_path):
    target = tmp_path / "file.txt"
    report, rec = run(tmp_path, f"""
- hosts: web
  tasks:
    - copy: {{content: "x", dest: "{target}"}}
      run_once: true
    - command: touch {target}.cmd
      run_once: true
""", check=True)
    assert not target.exists() and not Path(f"{target}.cmd").exists()
    assert set(rec.results().values()) == {"changed"}


def test_register_when_loop_and_changed_when(tmp_path):
    report, rec = run(tmp_path, """
- hosts: web
  tasks:
    - command: echo {{ inventory_hostname }}
      register: r
      changed_when: false
    - debug: {msg: "{{ item }}"}
      loop: [1, 2]
      when: r.stdout == 'h1' and item == 2
""", hosts=2)
    items = [e for e in rec.events if e[0] == "result" and e[1].startswith("debug")]
    assert ("result", "debug", "h1", "ok") in items
    assert ("result", "debug", "h2", "skipped") in items
    assert report.stats["h1"].changed == 0


def test_retries_until(tmp_path):
    counter = tmp_path / "count"
    report, rec = run(tmp_path, f"""
- hosts: h1
  tasks:
    - shell: echo x >> {counter}; wc -l < {counter}
      register: r
      until: r.stdout | int >= 3
      retries: 5
      delay: 0
""", hosts=1)
    assert counter.read_text().count("x") == 3
    assert report.stats["h1"].failed == 0


def test_ignore_errors_and_failed_when(tmp_path):
    report, rec = run(tmp_path, """
- hosts: h1
  tasks:
    - command: "false"
      ignore_errors: true
    - command: "true"
      failed_when: true
      ignore_errors: true
    - command: "false"
      failed_when: false
    - debug: {msg: still here}
""", hosts=1)
    s = report.stats["h1"]
    assert (s.ignored, s.failed) == (2, 0)
    assert rec.results("debug") == {("debug", "h1"): "ok"}


def test_set_fact_persists_across_plays_and_extra_vars_win(tmp_path):
    report, rec = run(tmp_path, """
- hosts: h1
  vars: {x: play}
  tasks:
    - set_fact: {y: from_fact}
- hosts: h1
  tasks:
    - assert: {that: ["y == 'from_fact'", "x == 'extra'"]}
""", hosts=1, extra_vars={"x": "extra"})
    assert report.stats["h1"].failed == 0, rec.events


def test_tags_always_never():
    from deployer.playbook import Play, PlayKeywords, Task, TaskKeywords
    from deployer.errors import Location
    from deployer.modules import lookup

    play = Play(PlayKeywords(hosts="all"), [], [], Location("x"))

    def t(tags):
        return Task("debug", lookup("debug"), {}, TaskKeywords(tags=tags), Location("x"))

    assert selected(t([]), play, set(), set())
    assert not selected(t(["never"]), play, set(), set())
    assert selected(t(["never", "debug"]), play, {"debug"}, set())
    assert selected(t(["always"]), play, {"other"}, set())
    assert not selected(t(["always"]), play, set(), {"always"})
    assert not selected(t(["a"]), play, {"b"}, set())
    assert not selected(t(["a"]), play, set(), {"a"})
    assert selected(t([]), play, {"untagged"}, set())


def test_secrets_never_in_report(tmp_path):
    report, rec = run(tmp_path, """
- hosts: h1
  vars: {admin_password: hunter22secret}
  tasks:
    - debug: {msg: "pw is {{ admin_password }}"}
    - command: echo {{ admin_password }}
      no_log: true
""", hosts=1)
    from deployer.results import Redactor

    r = Redactor()
    r.add_vars({"admin_password": "hunter22secret"})
    assert "hunter22secret" not in str(report.to_json(r))


def test_undefined_at_runtime_fails_that_host_only(tmp_path):
    report, rec = run(tmp_path, """
- hosts: web
  tasks:
    - set_fact: {special: 1}
      when: inventory_hostname == 'h1'
    - debug: {msg: "{{ hostvars[inventory_hostname].special }}"}
""", hosts=2)
    assert report.failed_hosts == ["h2"]
    failed = [r for r in report.results if r.status == "failed"]
    assert "has no attribute 'special'" in failed[0].msg


class _DeferArgs(ModuleArgs):
    dir: str
    later: str = "ls {dir} > {dir}/{host}.saw"


@register
class _DeferModule(Module[_DeferArgs]):
    """Test-only: marks the host done now, runs `later` once every host is done."""

    name = "test_executor_defer"
    Args = _DeferArgs

    def check(self, ctx: TaskContext, args: _DeferArgs) -> Change | None:
        return Change("mark")

    def apply(self, ctx: TaskContext, args: _DeferArgs, change: Change) -> None:
        ctx.run(f"sleep 0.{ctx.host[-1]}; touch {args.dir}/{ctx.host}.done").check()
        ctx.defer(lambda: ctx.run(args.later.format(dir=args.dir, host=ctx.host)).check("later"))


def run_defer(tmp_path, extra: str = "", later: str = "", **opts):
    d = tmp_path / "marks"
    d.mkdir()
    args = f"{{dir: {d}" + (f", later: {later!r}" if later else "") + "}"
    report, rec = run(tmp_path, f"""
- hosts: web
  tasks:
    - test_executor_defer: {args}
{extra}""", **opts)
    return d, report, rec


def test_deferred_work_runs_once_every_host_finished_the_task(tmp_path):
    d, report, rec = run_defer(tmp_path, forks=3)
    assert set(rec.results()) == {("test_executor_defer", h) for h in ("h1", "h2", "h3")}
    for h in ("h1", "h2", "h3"):  # each saw all three done, itself the slowest too
        assert {"h1.done", "h2.done", "h3.done"} <= set((d / f"{h}.saw").read_text().split())


def test_deferred_work_is_not_run_under_check(tmp_path):
    d, report, rec = run_defer(tmp_path, check=True)
    assert set(rec.results().values()) == {"changed"}
    assert list(d.iterdir()) == []


def test_a_failing_deferred_work_is_a_notice_not_a_failure(tmp_path):
    d, report, rec = run_defer(tmp_path, "    - debug: {msg: after}\n", later="echo no space left >&2; exit 1", hosts=2)
    notices = [e[1] for e in rec.events if e[0] == "notice"]
    assert sorted(n.split(":")[0] for n in notices) == ["h1", "h2"]
    assert all("clean-up after 'test_executor_defer' failed" in n and "no space left" in n for n in notices)
    assert report.failed_hosts == [] and set(rec.results("debug").values()) == {"ok"}


def test_defer_outside_apply_is_refused():
    ctx = TaskContext(host="h1", connection=None, vars={})
    with pytest.raises(CheckModeViolation):
        ctx.defer(lambda: None)
