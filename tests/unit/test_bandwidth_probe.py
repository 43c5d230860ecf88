"""The opt-in memory bandwidth probe, run for real on this machine."""

from __future__ import annotations

from deployer.connection import LocalConnection
from deployer.facts.bandwidth import measure
from deployer.facts.model import HostFacts
from deployer.llm.catalog import load_catalog
from deployer.llm.select import parse_request, select


def test_measures_and_feeds_the_speed_prediction():
    facts = HostFacts(hostname="here", arch="amd64")
    facts.cpu.threads = 2
    facts.memory.total_bytes = facts.memory.available_bytes = 16 << 30
    assert select(facts, parse_request({"model": "deepseek-r1", "size": "1.5b"}), load_catalog()).tokens_per_second is None
    measured = measure(LocalConnection(), facts, seconds=0.3)
    assert measured.bandwidth.cpu_source == "probe" and measured.bandwidth.cpu_gbs > 0.5
    assert "parallel copies" in measured.bandwidth.cpu_detail
    assert facts.bandwidth.cpu_gbs is None  # the input is not changed
    d = select(measured, parse_request({"model": "deepseek-r1", "size": "1.5b"}), load_catalog())
    assert d.tokens_per_second and d.tokens_per_second > 0


def test_no_python_on_host_is_a_note(tmp_path):
    class NoPython(LocalConnection):
        def run(self, command, **kw):
            return super().run(command.replace("command -v python3", "command -v no-such-python-here"), **kw)

    out = measure(NoPython(), HostFacts(), seconds=0.1)
    assert out.bandwidth.cpu_gbs is None
    assert "python3 is not installed" in out.notes[-1]
