"""Host patterns (deployer.patterns): every kind of term, ordering, localhost, syntax errors.

The pure functions run over a small hand-made inventory; the same patterns
against real ansible-core results are in test_inventory_ansible.py.
"""

from __future__ import annotations

import pytest

from deployer.errors import InputError, Location
from deployer.patterns import parse_pattern, select, split_pattern

# Inventory order (groups['all']) and group membership in each group's own order.
HOSTS = ["login", "node01", "node02", "node03", "node04", "node10", "gpu-a", "gpu-b", "web"]
GROUPS = {
    "all": HOSTS,
    "ungrouped": [],
    "frontend": ["login"],
    "compute": ["node01", "node02", "node03", "node04", "node10"],
    "gpu": ["gpu-a", "gpu-b", "node03"],  # not in inventory order, on purpose
    "cluster": ["login", "node01", "node02", "node03", "node04", "node10", "gpu-a", "gpu-b"],
    "web": ["node01"],  # a group with the name of a host
    "empty": [],
}


def sel(pattern, hosts=HOSTS, groups=GROUPS):
    return select(pattern, hosts, groups)


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("login", ["login"]),
        ("frontend", ["login"]),
        ("compute", ["node01", "node02", "node03", "node04", "node10"]),
        ("empty", []),
        ("nothing", []),
        ("all", HOSTS),
        ("*", HOSTS),
    ],
)
def test_names_and_groups(pattern, expected):
    assert sel(pattern) == expected


def test_group_result_is_in_inventory_order_not_group_order():
    assert sel("gpu") == ["node03", "gpu-a", "gpu-b"]


def test_a_host_name_wins_over_a_group_of_the_same_name():
    assert sel("web") == ["web"]


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("node*", ["node01", "node02", "node03", "node04", "node10"]),
        ("node0?", ["node01", "node02", "node03", "node04"]),
        ("node0[1-3]", ["node01", "node02", "node03"]),
        ("node0[!1-3]", ["node04"]),
        ("gpu-[ab]", ["gpu-a", "gpu-b"]),
        ("*-a", ["gpu-a"]),
        ("comp*", ["node01", "node02", "node03", "node04", "node10"]),  # a glob over group names too
        ("NODE*", []),  # case-sensitive, like Ansible
    ],
)
def test_globs(pattern, expected):
    assert sel(pattern) == expected


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("~node0[13]", ["node01", "node03"]),
        ("~node", ["node01", "node02", "node03", "node04", "node10"]),  # re.match: anchored at the start only
        ("~.*-b$", ["gpu-b"]),
        ("~(gpu|frontend)", ["login", "node03", "gpu-a", "gpu-b"]),  # a regex matches group names as well
    ],
)
def test_regex(pattern, expected):
    assert sel(pattern) == expected


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("frontend:gpu", ["login", "node03", "gpu-a", "gpu-b"]),
        ("frontend,gpu", ["login", "node03", "gpu-a", "gpu-b"]),
        ("gpu, frontend", ["login", "node03", "gpu-a", "gpu-b"]),
        ("gpu frontend", ["login", "node03", "gpu-a", "gpu-b"]),
        ("compute:&gpu", ["node03"]),
        ("compute:!gpu", ["node01", "node02", "node04", "node10"]),
        ("cluster:!compute:!gpu", ["login"]),
        ("cluster:&compute:&gpu", ["node03"]),
        ("!gpu", ["login", "node01", "node02", "node04", "node10", "web"]),  # only exclusions: from 'all'
        ("&gpu", ["node03", "gpu-a", "gpu-b"]),
        ("!gpu:compute", ["node01", "node02", "node04", "node10"]),  # unions first, whatever the order written
        ("compute:&gpu,frontend", ["node03"]),  # split at ':' inside ',' parts; '&' applies to the whole union
    ],
)
def test_union_intersection_exclusion(pattern, expected):
    assert sel(pattern) == expected


def test_result_order_does_not_depend_on_term_order():
    assert sel("gpu:frontend") == sel("frontend:gpu")


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("compute[0]", ["node01"]),
        ("compute[-1]", ["node10"]),
        ("compute[1:2]", ["node02", "node03"]),  # inclusive, as in Ansible
        ("compute[3:]", ["node04", "node10"]),
        ("compute[:1]", ["node01", "node02"]),
        ("compute[9]", []),
        ("compute[7:9]", []),
        ("gpu[0]", ["gpu-a"]),  # counted in the group's own order
        ("compute[0]:gpu[0]", ["node01", "gpu-a"]),
        ("compute:!compute[0]", ["node02", "node03", "node04", "node10"]),
    ],
)
def test_subscripts(pattern, expected):
    assert sel(pattern) == expected


def test_a_list_of_patterns_is_a_union():
    assert sel(["frontend", "gpu:!node03"]) == ["login", "gpu-a", "gpu-b"]


def test_implicit_localhost_when_not_in_inventory():
    assert sel("localhost") == ["localhost"]
    assert sel("127.0.0.1") == ["127.0.0.1"]
    assert sel("::1") == ["::1"]
    assert "localhost" not in sel("all")


def test_implicit_localhost_comes_last_and_once_for_several_aliases():
    assert sel("localhost:frontend") == ["login", "localhost"]
    assert sel("localhost,127.0.0.1") == ["localhost"]
    assert sel("localhost:!localhost") == []


def test_a_localhost_alias_names_the_inventory_localhost_if_listed():
    hosts = ["localhost", "node01"]
    groups = {"all": hosts, "ungrouped": hosts}
    assert sel("127.0.0.1", hosts, groups) == ["localhost"]


def test_localhost_glob_does_not_invent_a_host():
    assert sel("local*") == []


@pytest.mark.parametrize(
    "pattern, terms",
    [
        ("a:b", ["a", "b"]),
        ("a:&b:!c", ["a", "&b", "!c"]),
        ("a, b ,c", ["a", "b", "c"]),
        ("node[01:04]", ["node[01:04]"]),
        ("web[1:3]:db", ["web[1:3]", "db"]),
        ("host:2222", ["host:2222"]),  # host:port stays one term, as in Ansible
        ("fe80::1", ["fe80::1"]),
        ("fe80::1,web", ["fe80::1", "web"]),
        ("::1", ["::1"]),
        ("", []),
    ],
)
def test_split(pattern, terms):
    assert split_pattern(pattern) == terms


def test_parse_orders_unions_intersections_exclusions():
    terms = parse_pattern("!c:&b:a")
    assert [(t.op, t.expr) for t in terms] == [("", "a"), ("&", "b"), ("!", "c")]


@pytest.mark.parametrize(
    "pattern, fragment",
    [
        ("a:&", "'&' must be followed by a group or host name"),
        ("a:!", "'!' must be followed by a group or host name"),
        ("a,&", "'&' must be followed by a group or host name"),
        ("a:&&b", "'&' must be followed by a group or host name"),
        ("web[1:x]", "subscript '[1:x]' must be [N], [-N], [N:M], [N:] or [:M]"),
        ("web[:]", "subscript '[:]'"),
        ("web[3:1]", "subscript '[3:1]' ends before it starts"),
        ("node[01", "unbalanced '[' or ']' in 'node[01'"),
        ("node]", "unbalanced"),
        ("~(", "invalid regular expression '('"),
        ("~", "'~' must be followed by a regular expression"),
        ("", "empty host pattern"),
        (" , ", "empty host pattern"),
    ],
)
def test_syntax_errors_name_the_pattern(pattern, fragment):
    with pytest.raises(InputError) as err:
        sel(pattern)
    assert fragment in str(err.value)
    assert f"'{pattern}'" in str(err.value)


def test_syntax_error_carries_the_callers_location():
    where = Location("playbooks/site.yml", 3, 10)
    with pytest.raises(InputError) as err:
        select("web:&", HOSTS, GROUPS, where)
    assert str(err.value).startswith("playbooks/site.yml:3:10: bad host pattern 'web:&'")
