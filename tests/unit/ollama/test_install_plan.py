"""What ollama_install reads from a host and what it would change (install_state)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployer.connection import LocalConnection
from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext
from deployer.ollama.install_state import InstallState, make_plan, parse_state, probe_script
from deployer.ollama.layout import MARKER, Layout, layout
from deployer.hostfiles import expand_home, sh_path

HEX = "a" * 64
BIN = "/opt/ollama/current/bin/ollama"


def state(**kw: object) -> InstallState:
    base: dict = dict(uid=0, home="/root", root="/opt/ollama", link="/usr/local/bin/ollama", link_target=BIN, writable=True)
    base.update(kw)
    return InstallState(**base)  # type: ignore[arg-type]


def mark(d: Path, *names: str) -> None:
    (d / "bin").mkdir(parents=True)
    (d / MARKER).write_text("".join(f"{HEX}  {n}\n" for n in names))


def test_probe_reads_a_real_install_tree(tmp_path: Path) -> None:
    root = tmp_path / "opt" / "ollama"
    mark(root / "0.5.5", "ollama-linux-amd64.tgz")
    mark(root / "0.5.7", "ollama-linux-amd64.tgz", "ollama-linux-amd64-rocm.tgz")
    (root / "0.5.9" / "lib").mkdir(parents=True)  # no marker: a half copy by hand
    (root / "0.6.0.tmp-Ab12").mkdir()
    (root / ".staging" / "0.6.0").mkdir(parents=True)
    os.symlink("0.5.7", root / "current")
    os.symlink("0.5.5", root / "previous")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "ollama").write_text("an old install.sh binary")
    lay = Layout("user", str(root), str(tmp_path / "bin" / "ollama"))
    ctx = TaskContext("local", LocalConnection(), {})
    st = parse_state(ctx.probe(probe_script(lay)).stdout)
    assert st.uid == os.getuid() and st.root == str(root)
    assert (st.current, st.previous) == ("0.5.7", "0.5.5")
    assert st.installed == {"0.5.5": {""}, "0.5.7": {"", "rocm"}}
    assert st.unmarked == {"0.5.9"} and st.tmp_dirs == ["0.6.0.tmp-Ab12"] and st.staged == ["0.6.0"]
    assert st.link_is_file and st.link_target is None
    assert st.existing == str(root) and st.writable and st.free_bytes and st.free_bytes > 0


def test_probe_of_a_fresh_host_finds_the_nearest_existing_parent(tmp_path: Path) -> None:
    lay = Layout("user", str(tmp_path / "a" / "b" / "ollama"), str(tmp_path / "bin" / "ollama"))
    st = parse_state(TaskContext("local", LocalConnection(), {}).probe(probe_script(lay)).stdout)
    assert st.existing == str(tmp_path) and st.installed == {} and st.current is None
    assert not st.link_is_file and st.link_target is None


def test_paths_with_tilde_are_expanded_by_the_hosts_shell(tmp_path: Path) -> None:
    ctx = TaskContext("local", LocalConnection(), {})
    out = ctx.probe(f"HOME={tmp_path}; echo {sh_path('~/.local/opt/o p')}").stdout.strip()
    assert out == f"{tmp_path}/.local/opt/o p"
    assert expand_home("~/.local/bin/ollama", "/home/r") == "/home/r/.local/bin/ollama"
    assert layout("user", None).root == "~/.local/opt/ollama" and layout("system", "/srv/").root == "/srv/ollama"


def test_fresh_host_installs_sets_current_and_links() -> None:
    plan = make_plan(state(link_target=None), "0.5.7", {""}, False, BIN)
    assert plan is not None
    assert plan.actions("/opt/ollama", "/usr/local/bin/ollama", BIN, "push 1.6 GiB") == [
        "install 0.5.7 (push 1.6 GiB)",
        "set current -> 0.5.7",
        f"link /usr/local/bin/ollama -> {BIN}",
    ]


def test_installed_and_current_is_nothing_to_do() -> None:
    st = state(current="0.5.7", installed={"0.5.7": {""}})
    assert make_plan(st, "0.5.7", {""}, False, BIN) is None


def test_upgrade_keeps_two_versions() -> None:
    st = state(current="0.5.7", previous="0.5.5", installed={"0.5.5": {""}, "0.5.7": {""}})
    plan = make_plan(st, "0.6.0", {""}, False, BIN)
    assert plan is not None and plan.install and not plan.replace
    assert (plan.switch_from, plan.switch_to, plan.new_previous) == ("0.5.7", "0.6.0", "0.5.7")
    assert plan.remove == ["0.5.5"]
    assert plan.actions("/opt/ollama", "", BIN, "push 1.6 GiB") == [
        "install 0.6.0 (push 1.6 GiB)",
        "switch current 0.5.7 -> 0.6.0",
        "remove old 0.5.5 (keeping 2 versions)",
    ]


def test_switching_to_an_installed_version_sends_nothing() -> None:
    st = state(current="0.6.0", previous="0.5.7", installed={"0.5.7": {""}, "0.6.0": {""}})
    plan = make_plan(st, "0.5.7", {""}, False, BIN)
    assert plan is not None and not plan.install and plan.switch_to == "0.5.7" and plan.new_previous == "0.6.0"
    assert plan.remove == []


def test_rollback_switches_to_previous_once() -> None:
    st = state(current="0.6.0", previous="0.5.7", installed={"0.5.7": {""}, "0.6.0": {""}})
    plan = make_plan(st, "0.6.0", set(), True, BIN)
    assert plan is not None and not plan.install
    assert (plan.switch_from, plan.switch_to, plan.new_previous) == ("0.6.0", "0.5.7", "0.6.0")
    assert plan.actions("/opt/ollama", "", BIN) == ["switch current 0.6.0 -> 0.5.7 (rollback)"]
    after = state(current="0.5.7", previous="0.6.0", installed={"0.5.7": {""}, "0.6.0": {""}})
    assert make_plan(after, "0.6.0", set(), True, BIN) is None  # rerun: already rolled back


def test_rollback_without_a_previous_version_fails() -> None:
    st = state(current="0.6.0", installed={"0.6.0": {""}})
    with pytest.raises(ModuleFailure, match="cannot roll back from 0.6.0: no previous version"):
        make_plan(st, "0.6.0", set(), True, BIN)


def test_missing_rocm_bundle_reinstalls_into_a_fresh_dir() -> None:
    st = state(current="0.5.7", installed={"0.5.7": {""}})
    plan = make_plan(st, "0.5.7", {"", "rocm"}, False, BIN)
    assert plan is not None and plan.install and plan.replace and plan.switch_to is None


def test_unmarked_dir_at_the_final_path_is_replaced() -> None:
    st = state(unmarked={"0.5.7"})
    plan = make_plan(st, "0.5.7", {""}, False, BIN)
    assert plan is not None and plan.replace
    assert "replace the incomplete /opt/ollama/0.5.7" in plan.actions("/opt/ollama", "", BIN)


def test_leftovers_are_cleaned_but_the_upload_being_resumed_is_kept() -> None:
    st = state(tmp_dirs=["0.5.7.tmp-x1"], staged=["0.5.5", "0.5.7"])
    plan = make_plan(st, "0.5.7", {""}, False, BIN)
    assert plan is not None and plan.cleanup == ["0.5.7.tmp-x1", ".staging/0.5.5"]
    done = state(current="0.5.7", installed={"0.5.7": {""}}, tmp_dirs=["0.6.0.tmp-zz"])
    plan = make_plan(done, "0.5.7", {""}, False, BIN)
    assert plan is not None and plan.cleanup == ["0.6.0.tmp-zz"] and not plan.install


def test_a_file_where_the_link_goes_is_replaced_and_said() -> None:
    st = state(current="0.5.7", installed={"0.5.7": {""}}, link_target=None, link_is_file=True)
    plan = make_plan(st, "0.5.7", {""}, False, BIN)
    assert plan is not None and plan.actions("/opt/ollama", "/usr/local/bin/ollama", BIN) == [
        f"link /usr/local/bin/ollama -> {BIN} (replacing a file)"
    ]


def test_parse_state_ignores_noise() -> None:
    st = parse_state("uid=1000\nhome=/home/r\ncurrent=/abs/path/0.5.7/\ninstalled 0.5.7\nfree_kib=10\nrandom line\n")
    assert st.uid == 1000 and st.current == "0.5.7" and st.installed == {"0.5.7": set()} and st.free_bytes == 10240


def test_free_space_is_checked_with_the_numbers_in_the_message() -> None:
    from deployer.ollama.install import _check_space

    ctx = TaskContext("node1", None, {})
    _check_space(ctx, state(free_bytes=4 << 30, existing="/opt"), 1 << 30)
    with pytest.raises(ModuleFailure) as info:
        _check_space(ctx, state(free_bytes=2 << 30, existing="/opt"), 1717986918)
    assert "not enough space for Ollama at /opt on node1: 2.0 GiB free, ~3.2 GiB needed (2 x the 1.6 GiB archive" in str(info.value)
