"""The core engine against real sshd hosts: converge, rerun with changed=0, --check
touches nothing, host keys, down hosts, become with a password, serial and
max_fail_percentage, bad input before any connection."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

PLAYBOOK = """
- name: converge the fleet
  hosts: fleet
  vars:
    base: "{{ test_root }}/{{ inventory_hostname }}"
  tasks:
    - name: app directory
      file: {path: "{{ base }}/etc", state: directory, mode: "0755"}
    - name: config file
      copy:
        dest: "{{ base }}/etc/app.conf"
        content: |
          host={{ inventory_hostname }}
          port=8080
        mode: "0640"
      notify: reload app
    - name: templated unit
      template: {src: unit.j2, dest: "{{ base }}/etc/app.service"}
    - name: a line in a file
      lineinfile: {path: "{{ base }}/etc/extra.conf", regexp: "^port=", line: "port=9090", create: true}
    - name: marker created once
      command: touch {{ base }}/marker
      args: {creates: "{{ base }}/marker"}
    - name: who am I
      command: id -un
      register: me
      changed_when: false
    - assert: {that: ["me.stdout == expected_user"]}
  handlers:
    - name: reload app
      shell: echo reloaded >> {{ base }}/reloads
"""

UNIT = "[Service]\nExecStart=/usr/bin/app --name {{ inventory_hostname }}\n"


def _tree(fleet, host: str, root: str) -> dict[str, str]:
    """Paths under `root` on a host with their content digest and mode."""
    out = {}
    base = fleet.path(host, root)
    if not base.exists():
        return out
    for p in sorted(base.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        out[str(p.relative_to(base))] = f"{digest}:{oct(st.st_mode)}"
    return out


@pytest.fixture
def project(tmp_path: Path, fleet):
    root = f"/srv/t-{uuid.uuid4().hex[:8]}"
    (tmp_path / "unit.j2").write_text(UNIT)
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    inv = fleet.write_inventory(tmp_path / "hosts.ini", group_vars={"test_root": root, "expected_user": "root"})
    return tmp_path, inv, root


def recap(stderr: str) -> dict[str, dict[str, int]]:
    out = {}
    for line in stderr.split("PLAY RECAP", 1)[1].splitlines():
        if " : ok=" in line:
            host, _, rest = line.partition(" : ")
            out[host.strip()] = {k: int(v) for k, v in (kv.split("=") for kv in rest.split())}
    return out


def test_converge_rerun_and_check(project, fleet, deployer_cli):
    d, inv, root = project
    hosts = fleet.names
    # --check on fresh hosts: everything would change, nothing does
    r = deployer_cli("run", d / "site.yml", "-i", inv, "--check")
    assert r.rc == 0, r
    assert all(not fleet.path(h, root).exists() for h in hosts)
    assert set(recap(r.stderr)) == set(hosts)

    r = deployer_cli("run", d / "site.yml", "-i", inv)
    assert r.rc == 0, r
    stats = recap(r.stderr)
    assert all(stats[h]["changed"] >= 5 and stats[h]["failed"] == 0 for h in hosts), r.stderr
    for h in hosts:
        conf = fleet.path(h, f"{root}/{h}/etc/app.conf").read_text()
        assert conf == f"host={h}\nport=8080\n"
        assert fleet.path(h, f"{root}/{h}/etc/extra.conf").read_text() == "port=9090\n"
        assert oct(fleet.path(h, f"{root}/{h}/etc/app.conf").stat().st_mode & 0o777) == "0o640"
        assert fleet.path(h, f"{root}/{h}/reloads").read_text() == "reloaded\n"
    assert fleet.exec("h6", f"cat {root}/h6/etc/app.service").stdout == UNIT.replace("{{ inventory_hostname }}", "h6")

    # second run: nothing to do
    before = {h: _tree(fleet, h, root) for h in hosts}
    r = deployer_cli("run", d / "site.yml", "-i", inv, "--json")
    assert r.rc == 0, r
    assert all(s["changed"] == 0 for s in recap(r.stderr).values()), r.stderr
    report = json.loads(r.stdout)
    assert {h: s["changed"] for h, s in report["stats"].items()} == {h: 0 for h in hosts}

    # a drifted host: --check says what would change and leaves it drifted
    fleet.exec("h3", f"sed -i s/9090/1234/ {root}/h3/etc/extra.conf")
    drifted = _tree(fleet, "h3", root)
    r = deployer_cli("run", d / "site.yml", "-i", inv, "--check", "--diff")
    assert r.rc == 0, r
    assert recap(r.stderr)["h3"]["changed"] == 1 and recap(r.stderr)["h2"]["changed"] == 0
    assert "-port=1234" in r.stderr and "+port=9090" in r.stderr
    assert _tree(fleet, "h3", root) == drifted
    assert {h: _tree(fleet, h, root) for h in hosts if h != "h3"} == {h: before[h] for h in hosts if h != "h3"}


def test_become_with_password_is_never_printed(project, fleet, deployer_cli):
    d, _, root = project
    inv = fleet.write_inventory(
        d / "deploy.ini",
        hosts=["h1", "h6"],
        group_vars={"ansible_user": "deploy", "ansible_become": True, "test_root": root, "expected_user": "root"},
    )
    r = deployer_cli("run", d / "site.yml", "-i", inv, "-K", "-vv", "--json", "--diff", password="deploy-pass")
    assert r.rc == 0, r
    assert "deploy-pass" not in r.stdout + r.stderr
    assert fleet.exec("h6", f"stat -c %U {root}/h6/etc/app.conf").stdout.strip() == "root"

    # wrong password: a clear failure per host, password still not printed
    r = deployer_cli("run", d / "site.yml", "-i", inv, "-K", password="wrong-pass-123")
    assert r.rc == 4, r
    assert "sudo rejected the become password" in r.stderr
    assert "wrong-pass-123" not in r.stdout + r.stderr


def test_sudo_without_password_says_how_to_fix(project, fleet, deployer_cli):
    d, _, root = project
    inv = fleet.write_inventory(d / "deploy.ini", hosts=["h2"], group_vars={"ansible_user": "deploy", "ansible_become": True, "test_root": root, "expected_user": "root"})
    r = deployer_cli("run", d / "site.yml", "-i", inv)
    assert r.rc == 4, r
    assert "ansible_become_password" in r.stderr and "--ask-become-pass" in r.stderr


def test_wrong_host_key_is_refused_others_finish(project, fleet, deployer_cli):
    d, inv, root = project
    fleet.wrong_host_key("h4")
    r = deployer_cli("run", d / "site.yml", "-i", inv)
    assert r.rc == 5, r
    stats = recap(r.stderr)
    assert stats["h4"]["unreachable"] == 1 and stats["h1"]["failed"] == 0
    assert "host key for" in r.stderr and "CHANGED" in r.stderr
    assert not fleet.path("h4", root).exists()
    assert fleet.path("h1", f"{root}/h1/etc/app.conf").exists()


def test_unknown_host_key_refused_unless_accept_new(project, fleet, deployer_cli, tmp_path):
    d, _, root = project
    kh = tmp_path / "empty_known_hosts"
    kh.write_text("")
    inv = fleet.write_inventory(d / "kh.ini", hosts=["h2"], group_vars={"test_root": root, "expected_user": "root", "deployer_known_hosts_file": str(kh)})
    r = deployer_cli("run", d / "site.yml", "-i", inv)
    assert r.rc == 5 and "is not known" in r.stderr and "--ssh-accept-new" in r.stderr, r
    r = deployer_cli("run", d / "site.yml", "-i", inv, "--ssh-accept-new")
    assert r.rc == 0, r
    assert fleet.host("h2").address in kh.read_text()
    # recorded: a plain run now connects
    r = deployer_cli("run", d / "site.yml", "-i", inv)
    assert r.rc == 0, r


def test_host_down_is_unreachable_others_finish(project, fleet, deployer_cli):
    d, inv, root = project
    fleet.stop_sshd("h5")
    r = deployer_cli("run", d / "site.yml", "-i", inv, "--retry-file", d / "retry")
    assert r.rc == 5, r
    stats = recap(r.stderr)
    assert stats["h5"]["unreachable"] == 1
    assert all(stats[h]["failed"] == 0 and stats[h]["unreachable"] == 0 for h in fleet.names if h != "h5")
    assert (d / "retry").read_text() == "h5\n"
    fleet.start_sshd("h5")
    r = deployer_cli("run", d / "site.yml", "-i", inv, "--limit", f"@{d / 'retry'}")
    assert r.rc == 0, r
    assert set(recap(r.stderr)) == {"h5"}


def test_serial_and_max_fail_percentage(project, fleet, deployer_cli):
    d, _, root = project
    (d / "serial.yml").write_text("""
- hosts: fleet
  serial: 2
  max_fail_percentage: 40
  tasks:
    - fail: {msg: "planned failure"}
      when: inventory_hostname in fail_on
    - name: after
      copy: {dest: "{{ test_root }}-{{ inventory_hostname }}", content: ok}
""")
    inv = fleet.write_inventory(d / "s.ini", hosts=["h1", "h2", "h3", "h4", "h5"], group_vars={"test_root": root})
    # one failure in a batch of two = 50% > 40%: the play stops after that batch
    r = deployer_cli("run", d / "serial.yml", "-i", inv, "-e", '{"fail_on": ["h3"]}')
    assert r.rc == 4, r
    done = [h for h in ("h1", "h2", "h3", "h4", "h5") if fleet.path(h, f"{root}-{h}").exists()]
    # batches [h1 h2] [h3 h4] [h5]: h3 fails in the second batch, so h4 never gets 'after' and h5 never starts
    assert done == ["h1", "h2"], (done, r.stderr)
    assert "more than max_fail_percentage 40%" in r.stderr


def test_bad_input_touches_no_host(project, fleet, deployer_cli):
    d, inv, root = project
    cases = {
        "unknown_module.yml": ("- hosts: fleet\n  tasks:\n    - comand: ls\n", "unknown module or task keyword 'comand'"),
        "undefined.yml": ("- hosts: fleet\n  tasks:\n    - debug: {msg: '{{ nope }}'}\n", "undefined variable 'nope'"),
        "bad_yaml.yml": ("- hosts: fleet\n  tasks: [\n", "invalid YAML"),
        "bad_pattern.yml": ("- hosts: 'fleet:&'\n  tasks: []\n", "bad_pattern.yml:1:3"),
        "wrong_type.yml": ("- hosts: fleet\n  tasks:\n    - wait_for: {port: [1]}\n", "wait_for: 'port'"),
    }
    for name, (text, expected) in cases.items():
        (d / name).write_text(text)
        r = deployer_cli("run", d / name, "-i", inv)
        assert r.rc == 3, r
        assert expected in r.stderr, r
        assert "Traceback" not in r.stderr
        assert len([line for line in r.stderr.splitlines() if line.startswith("error:")]) == 1, r.stderr
    r = deployer_cli("run", d / "missing.yml", "-i", inv)
    assert r.rc == 3 and "file not found" in r.stderr, r
    r = deployer_cli("run", d / "site.yml", "-i", d / "no-such-inventory")
    assert r.rc == 3, r
    assert all(not fleet.path(h, root).exists() for h in fleet.names)


def test_console_script_end_to_end(project, fleet, deployer_cli):
    d, inv, root = project
    r = deployer_cli("run", d / "site.yml", "-i", inv, "--limit", "h1", subprocess_=True)
    assert r.rc == 0, r
    assert "PLAY RECAP" in r.stderr and "h1" in r.stderr
    assert fleet.path("h1", f"{root}/h1/etc/app.conf").exists()
    assert not fleet.path("h2", root).exists()
    r = deployer_cli("run", d / "site.yml", "-i", inv, "--list-hosts", subprocess_=True)
    assert r.rc == 0 and all(h in r.stdout for h in fleet.names)
