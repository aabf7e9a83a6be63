"""Scenario files: the shipped set loads; bad files fail naming file and line."""
import os
import textwrap

import pytest
from conftest import ROOT
from fwnet import scenario

GOOD_HEAD = 'name = "x"\ntags = ["t"]\n'


def write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_shipped_scenarios_load():
    scs = scenario.load_dir(os.path.join(ROOT, "scenarios"))
    assert len(scs) >= 25
    names = {s.name for s in scs}
    assert len(names) == len(scs)
    for s in scs:
        assert s.steps and s.description


@pytest.mark.parametrize("body,line,msg", [
    ('steps = """\ns = socket stream\nfrobnicate s\n"""\n', 5, "unknown operation"),
    ('steps = """\nclose q\n"""\n', 4, "socket 'q' not created before"),
    ('steps = """\ns = socket stream\nconnect s nobody\n"""\n', 5, "unknown peer"),
    ('steps = """\ns = socket stream\nrecv s => ret\n"""\n', 5, "not key=value"),
    ('steps = """\n"""\n', 3, "no steps"),
    ('bogus = 1\nsteps = """\nsleep 1\n"""\n', 3, "unknown key"),
])
def test_errors_name_file_and_line(tmp_path, body, line, msg):
    p = write(tmp_path, GOOD_HEAD + body)
    with pytest.raises(scenario.ScenarioError) as e:
        scenario.Scenario(p)
    assert e.value.path == p
    assert str(e.value.line) == str(line), str(e.value)
    assert msg in str(e.value)


def test_toml_syntax_error_names_line(tmp_path):
    p = write(tmp_path, GOOD_HEAD + 'steps = """\nsleep 1\n"""\n[[peers]\n')
    with pytest.raises(scenario.ScenarioError) as e:
        scenario.Scenario(p)
    assert ":6:" in str(e.value)


def test_bad_peer_kind_and_deviation(tmp_path):
    p = write(tmp_path, GOOD_HEAD + 'steps = """\nsleep 1\n"""\n[[peers]]\nname = "a"\nkind = "teleport"\n')
    with pytest.raises(scenario.ScenarioError, match="kind must be one of"):
        scenario.Scenario(p)
    p = write(tmp_path, GOOD_HEAD + 'steps = """\nsleep 1\n"""\n[[deviations.ovmf]]\nstep = 1\nexpect = {ret = 0}\n')
    with pytest.raises(scenario.ScenarioError, match="needs a 'why'"):
        scenario.Scenario(p)
    p = write(tmp_path, GOOD_HEAD + 'steps = """\nsleep 1\n"""\n[[deviations.ovmf]]\nstep = 9\nexpect = {ret = 0}\nwhy="w"\n')
    with pytest.raises(scenario.ScenarioError, match="names no step"):
        scenario.Scenario(p)


def test_step_parsing():
    sc = scenario.Scenario(os.path.join(ROOT, "scenarios", "tcp-connect-nonblocking.toml"))
    s = sc.steps[1]
    assert s.op == "connect" and s.args["@peer"] == "echo" and s.args["fd"] == "s"
    assert s.expect == {"errno": "EINPROGRESS"}
    assert sc.steps[0].bind == "s"
