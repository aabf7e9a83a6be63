"""`wire`, `inject` and `respond` steps: parsing (errors naming file:line
before anything starts), judging on synthetic captures through the runner,
the capture fallback, live responders, and the capability skip on Linux."""
import os
import struct
import textwrap
import time
import types

import pytest

pytest.importorskip("scapy.all")
from scapy.all import IP, TCP, UDP, Ether, wrpcap  # noqa: E402

from fwnet import backends, runner, scenario  # noqa: E402

GUEST, PEER = "10.0.2.15", "10.0.2.100"


def load(tmp_path, steps, extra=""):
    p = tmp_path / "sc.toml"
    p.write_text('name = "sc"\nsteps = """\n%s\n"""\n%s\n[[peers]]\nname = "echo"\nkind = "echo"\n'
                 % (textwrap.dedent(steps).strip(), extra))
    return scenario.Scenario(str(p))


def error_of(tmp_path, steps):
    with pytest.raises(scenario.ScenarioError) as e:
        load(tmp_path, steps)
    return e.value


# ---------------------------------------------------------------- parsing

def test_wire_step_parsed_and_needs_capture(tmp_path):
    sc = load(tmp_path, """
        s = socket stream
        connect s echo
        wire count "tcp[tcpflags] & tcp-syn != 0 and src host 10.0.2.15" 1..4 within 1-4s of step 2
        wire field tshark "tcp.flags.syn == 1" tcp.seq_raw distinct random count >=2
        """)
    w = sc.steps[2]
    assert w.op == "wire" and w.wire.ref == 2 and w.wire.within == (1.0, 4.0) and w.line == 5
    assert sc.steps[3].wire.lang == "tshark" and sc.steps[3].wire.field == "tcp.seq_raw"
    assert "capture" in sc.requires and "inject" not in sc.requires


def test_hash_inside_quotes_is_not_a_comment(tmp_path):
    sc = load(tmp_path, """
        s = socket stream
        wire count tshark 'frame contains "#y"' 0   # a real comment
        """)
    assert sc.steps[1].wire.expr == 'frame contains "#y"'
    assert scenario.strip_comment('a "b # c" # d') == 'a "b # c" '
    assert scenario.strip_comment('a "b \\" # c" # d') == 'a "b \\" # c" '


def test_arrow_inside_a_wire_step_is_not_an_expectation(tmp_path):
    sc = load(tmp_path, 'wire count tshark "tcp.len >= 1" >=1')
    assert sc.steps[0].expect == {} and sc.steps[0].wire.count.text == ">=1"


@pytest.mark.parametrize("line,words", [
    ('wire count "tcp[tcpflags] & tcp-bogus" 1', "tcp-bogus"),
    ('wire count tshark "tcp.flags.syn == = 1" 1', "tshark"),
    ('wire count tshark "tcp.nosuchfield == 1" 1', "tcp.nosuchfield"),
    ('wire field tshark "tcp" tcp.no_such_field distinct', "tcp.no_such_field"),
    ('wire count "tcp" 1 within 1-4s of step 9', "step 9"),
    ('wire count "tcp" 1 within 1-4s of step 3', "step 3"),
    ('wire count "tcp" lots', "lots"),
])
def test_wire_errors_name_file_and_line(tmp_path, line, words):
    e = error_of(tmp_path, "s = socket stream\n" + "connect s echo\n" + line)
    assert e.path.endswith("sc.toml") and e.line == 5, str(e)
    assert words in str(e) and str(e).startswith(str(tmp_path / "sc.toml") + ":5:")


def test_inject_and_respond_parsed(tmp_path):
    sc = load(tmp_path, """
        s = socket stream
        connect s echo
        sockname s
        inject link=1 tcp-rst src=10.0.2.100 dst=10.0.2.15 sport=20001 dport={step3.port} seq=5
        respond "src host 10.0.2.15 and tcp[tcpflags] & tcp-push != 0" tcp-rst src={match.ip.dst} dst={match.ip.src} sport={match.tcp.dport} dport={match.tcp.sport} seq={match.tcp.ack+0x10} count=2
        respond tshark "dns.flags.response == 0" dns-reply id={match.dns.id-1} dport={match.udp.sport} qname=a.test
        inject raw expr='IP(src="10.0.2.100", dst="10.0.2.15")/UDP(dport=7)/Raw(b"x#y")'
        """)
    inj, rsp, rsp2, raw = sc.steps[3:]
    assert inj.op == "inject" and inj.args["link"] == "1" and inj.args["params"]["dport"] == "{step3.port}"
    assert rsp.args["count"] == 2 and rsp.args["lang"] == "bpf" and rsp.args["template"] == "tcp-rst"
    assert rsp2.args["lang"] == "tshark"
    assert "x#y" in raw.args["params"]["expr"]
    assert "inject" in sc.requires and "capture" in sc.requires


@pytest.mark.parametrize("line,words", [
    ("inject tcp-nope src=1", "unknown packet template 'tcp-nope'"),
    ("inject tcp-rst src=10.0.2.100 dst=10.0.2.15 sport=1 dport=2", "missing parameter seq"),
    ("inject tcp-rst src=a dst=b sport=1 dport=2 seq=1 bogus=3", "unknown parameter bogus"),
    ("inject tcp-rst src=a dst=b sport=x dport=2 seq=1", "sport"),
    ("inject tcp-rst src=a dst=b sport=1 dport=2 seq={match.tcp.seq}", "only in respond"),
    ("inject tcp-rst src=a dst=b sport=1 dport=2 seq={step9.port}", "step 9"),
    ("inject tcp-rst src=a dst=b sport=1 dport=2 seq={step1}", "name a reply field"),
    ("inject tcp-rst src=a dst=b sport=1 dport=2 seq={nonsense}", "substitution"),
    ("inject tcp-rst src=a dst=b sport=1 dport=2 seq={step1.port", "unbalanced"),
    ('respond "tcp" tcp-rst src=a dst=b sport=1 dport=2 seq={match.tcpx.seq}', "unknown layer"),
    ('respond "tcp" tcp-rst src=a dst=b sport=1 dport=2 seq={match.tcp.sequence}', "no field 'sequence'"),
    ('respond "tcp[tcpflags] & tcp-bogus" tcp-rst src=a dst=b sport=1 dport=2 seq=1', "tcp-bogus"),
    ('respond tshark "tcp.flags ==== 1" tcp-rst src=a dst=b sport=1 dport=2 seq=1', "===="),
    ('respond "tcp" tcp-rst src=a dst=b sport=1 dport=2 seq=1 count=0', "count=N"),
    ("inject raw expr='__import__(\"os\")'", "raw"),
])
def test_craft_errors_name_file_and_line(tmp_path, line, words):
    e = error_of(tmp_path, "s = socket stream\n" + line)
    assert e.line == 4 and words in str(e), str(e)
    assert str(e).startswith(str(tmp_path / "sc.toml") + ":4:")


def test_repo_scenarios_load():
    d = os.path.join(os.path.dirname(__file__), "..", "..", "scenarios")
    scs = {s.name: s for s in scenario.load_dir(d)}
    assert {"wire-count-handshake", "wire-field-ports-isn", "craft-tcp-rst-in-window", "craft-ipv6"} <= set(scs)
    assert "inject" in scs["craft-ipv6"].requires


# ---------------------------------------------------------------- judging

T0 = 1700000000.0


def syn_pcap(path, n=4, t0=T0, step=1.0, seq=lambda i: 1000 + 64000 * i):
    pkts = []
    for i in range(n):
        p = Ether() / IP(src=GUEST, dst=PEER) / TCP(sport=1000 + i, dport=80, flags="S", seq=seq(i))
        p.time = t0 + 0.5 + i * step
        pkts.append(p)
    wrpcap(str(path), pkts)
    return str(path)


class FakeNet:
    def __init__(self, pcap=None):
        self.pcap, self.frames = pcap, []

    def capture_path(self, sc):
        return self.pcap

    def inject(self, frame, link=None):
        self.frames.append((frame, link))


def fake_backend(run_dir, net):
    return types.SimpleNamespace(name="ovmf", network=net, run_dir=str(run_dir), supports=set())


def run_local(sc, be, t_start, step_times):
    """What run_scenario does for the harness's own steps; agent steps get an ok reply."""
    wr = runner.WireRun(be, sc)
    wr.t_start = t_start
    results = []
    for st in sc.steps:
        wr.step_wall[st.index] = step_times.get(st.index, t_start)
        if st.op in runner.LOCAL_OPS:
            results.append(wr.run_step(st, results))
        else:
            results.append(runner.StepResult(st, st.op, {"status": "ok", "ret": 0, "port": 1234}, 0))
    wr.finish(results)
    return results


def test_wire_steps_judged_on_capture(tmp_path):
    pcap = syn_pcap(tmp_path / "c.pcap", n=4)
    sc = load(tmp_path, """
        s = socket stream
        connect s echo
        wire count "tcp[tcpflags] == tcp-syn" 4
        wire count "tcp[tcpflags] == tcp-syn" 2 within 1-2.6s of step 2
        wire count tshark "tcp.flags.syn == 1" 0 within 10-20s of start
        wire field "tcp" tcp.srcport distinct monotonic stride-constant count 4
        """)
    res = run_local(sc, fake_backend(tmp_path, FakeNet(pcap)), T0, {2: T0 + 0.4})
    wires = [r for r in res if r.step.op == "wire"]
    assert [r.reply["status"] for r in wires] == ["ok"] * 4, [r.reply for r in wires]
    assert wires[3].reply["values"] == [1000, 1001, 1002, 1003]
    problems, used = runner.check_local_steps(sc, "ovmf", res)
    assert problems == [] and used == []


def test_wire_steps_judged_side_by_side_keep_their_own_results(tmp_path):
    # judged at once (runner.WIRE_WORKERS): each verdict, count and value
    # list lands on the step it belongs to, failures between passes included
    pcap = syn_pcap(tmp_path / "c.pcap", n=5)
    sc = load(tmp_path, """
        wire count "tcp[tcpflags] == tcp-syn" 5
        wire count "tcp[tcpflags] == tcp-syn" 9
        wire field "tcp" tcp.srcport distinct monotonic count 5
        wire count tshark "tcp.srcport == 1002" 1
        wire count tshark "tcp.srcport == 1003" 0
        wire field tshark "tcp.srcport >= 1003" tcp.srcport distinct count 2
        """)
    res = run_local(sc, fake_backend(tmp_path, FakeNet(pcap)), T0, {})
    assert [r.reply["status"] for r in res] == ["ok", "fail", "ok", "ok", "fail", "ok"], [r.reply for r in res]
    assert [r.reply["matched"] for r in res] == [5, 5, 5, 1, 1, 2]
    assert res[2].reply["values"] == [1000, 1001, 1002, 1003, 1004]
    assert res[5].reply["values"] == [1003, 1004]
    assert "expected count 9" in res[1].reply["message"] and "expected count 0" in res[4].reply["message"]


def dns_queries_pcap(path, ports, ids):
    from scapy.all import DNS, DNSQR
    pkts = []
    for i, (port, qid) in enumerate(zip(ports, ids)):
        p = Ether() / IP(src=GUEST, dst="10.0.2.3") / UDP(sport=port, dport=53) / \
            DNS(id=qid, rd=1, qd=DNSQR(qname="h%d.test" % i))
        p.time = T0 + 0.5 + i * 0.01
        pkts.append(p)
    wrpcap(str(path), pkts)
    return str(path)


def test_dns_ids_scenario_tolerates_a_chance_repeat_not_a_pattern(tmp_path):
    # wire-field-dns-ids on OVMF: 12 ports drawn at random from 49152-65535
    # repeat one by chance in 0.4% of runs (seen once in a default matrix);
    # that is randomness, while a counter or a fixed port is not
    import random
    d = os.path.join(os.path.dirname(__file__), "..", "..", "scenarios")
    sc = scenario.Scenario(os.path.join(d, "wire-field-dns-ids.toml"))
    wires = [st for st in sc.steps if st.op == "wire"]
    rnd = random.Random(7)
    ids = [rnd.randrange(65536) for _ in range(12)]
    ports = [rnd.randrange(49152, 65536) for _ in range(12)]
    ports[8] = ports[3]  # the matrix's repeat: the 4th and 9th query on one port
    chance = dns_queries_pcap(tmp_path / "chance.pcap", ports, ids)
    assert all(st.wire.evaluate(chance, T0).ok for st in wires), \
        [st.wire.evaluate(chance, T0).reasons for st in wires]
    counter = dns_queries_pcap(tmp_path / "counter.pcap", [50000 + i for i in range(12)],
                               [1000 + i for i in range(12)])
    assert not any(st.wire.evaluate(counter, T0).ok for st in wires)
    fixed = dns_queries_pcap(tmp_path / "fixed.pcap", [50000] * 12, ids)
    assert [st.wire.evaluate(fixed, T0).ok for st in wires] == [True, False]


def test_failing_wire_step_message(tmp_path):
    pcap = syn_pcap(tmp_path / "c.pcap", n=3)
    sc = load(tmp_path, """
        s = socket stream
        wire count "tcp[tcpflags] == tcp-syn and src host 10.0.2.15" 1..2 within 0-5s of step 1
        """)
    res = run_local(sc, fake_backend(tmp_path, FakeNet(pcap)), T0, {})
    r = res[1]
    assert r.reply["status"] == "fail"
    problems, _ = runner.check_local_steps(sc, "ovmf", res)
    msg = problems[0]
    assert msg.startswith("step 2 (wire, line 4): ")
    assert str(tmp_path / "sc.toml") + ":4:" in msg
    assert 'wire count "tcp[tcpflags] == tcp-syn and src host 10.0.2.15" 1..2 within 0-5s of step 1' in msg
    assert "filter (bpf): tcp[tcpflags] == tcp-syn and src host 10.0.2.15" in msg
    assert "3 packets matched" in msg
    assert "IP 10.0.2.15.1000 > 10.0.2.100.80: Flags [S], seq 1000" in msg  # tcpdump's own line
    assert msg.count("Flags [S]") == 3


def test_failing_wire_step_listed_as_deviation(tmp_path):
    pcap = syn_pcap(tmp_path / "c.pcap", n=10, seq=lambda i: 5000 + 2148 * i)
    sc = load(tmp_path, """
        s = socket stream
        wire field "tcp" tcp.seq_raw random count 10
        """, extra='[[deviations.ovmf]]\nstep = 2\nexpect = { status = "fail" }\nwhy = "counter ISNs"\n')
    res = run_local(sc, fake_backend(tmp_path, FakeNet(pcap)), T0, {})
    assert res[1].reply["status"] == "fail" and "random failed" in res[1].reply["message"]
    problems, used = runner.check_local_steps(sc, "ovmf", res)
    assert problems == [] and "counter ISNs" in used[0]
    problems, used = runner.check_local_steps(sc, "rump", res)
    assert problems and not used


def test_compare_leaves_local_steps_out_of_goldens(tmp_path):
    pcap = syn_pcap(tmp_path / "c.pcap", n=1)
    sc = load(tmp_path, """
        s = socket stream
        wire count "tcp" 1
        close s
        """)
    res = run_local(sc, fake_backend(tmp_path, FakeNet(pcap)), T0, {})
    golden = [{"step": 1, "line": 4, "op": "socket", "result": {"status": "ok", "ret": "fd"}},
              {"step": 2, "line": 6, "op": "close", "result": {"status": "ok", "ret": 0}}]
    for r in res:
        if r.step.op == "socket":
            r.reply = {"status": "ok", "ret": 3}
    v, problems, _ = runner.compare(sc, "ovmf", res, golden)
    assert v == "pass", problems


def test_capture_fallback_slices_the_guest_capture(tmp_path):
    # no capture_path on the network: guest 1's capture, cut to the scenario's
    # time, its stamps aligned on netsim.pcap's (QEMU's lag wall time)
    syn_pcap(tmp_path / "capture.pcap", n=6, t0=T0 - 3.4)  # QEMU: 0.4 s behind
    syn_pcap(tmp_path / "netsim.pcap", n=5, t0=T0 - 3)  # netsim: the last one not flushed yet
    net = types.SimpleNamespace()
    sc = load(tmp_path, 'wire count "tcp" 3')
    be = fake_backend(tmp_path, net)
    wr = runner.WireRun(be, sc)
    wr.t_start = T0 - 0.2
    assert abs(runner.clock_offset(str(tmp_path / "capture.pcap"), str(tmp_path / "netsim.pcap")) - 0.4) < 1e-6
    t = time.time
    try:
        time.time = lambda: T0 + 2.6
        p = wr.capture()
    finally:
        time.time = t
    assert p == str(tmp_path / "captures" / "sc.wire.pcap")
    from fwnet import wire
    assert [round(x.time - T0, 3) for x in wire.read_pcap(p)] == [0.5, 1.5, 2.5]
    # without netsim.pcap (slirp): the guest's capture as it is
    os.unlink(tmp_path / "netsim.pcap")
    syn_pcap(tmp_path / "capture.pcap", n=2, t0=time.time() - 3)
    wr.t_start = time.time() - 3
    assert len(wire.read_pcap(wr.capture())) == 2
    # the network's own capture wins
    be.network = FakeNet(str(tmp_path / "capture.pcap"))
    assert wr.capture() == str(tmp_path / "capture.pcap")


def test_no_capture_skips_wire_steps(tmp_path):
    sc = load(tmp_path, 'wire count "tcp" 3')
    be = types.SimpleNamespace(name="linux", run_dir=str(tmp_path), supports=set())
    res = run_local(sc, be, T0, {})
    assert res[0].reply["status"] == "skipped"


# ---------------------------------------------------------------- crafted packets

def test_substitute():
    pkt = Ether() / IP(src=GUEST, dst=PEER) / TCP(sport=1234, dport=80, seq=4294967295, ack=77)
    st = types.SimpleNamespace(index=3)
    res = [runner.StepResult(st, "sockname", {"status": "ok", "port": "49152"}, 0)]
    assert runner.substitute("{match.tcp.seq+1}", res, pkt) == "4294967296"
    assert runner.substitute("x{match.ip.src}y", res, pkt) == "x10.0.2.15y"
    assert runner.substitute("{step3.port-2}", res, pkt) == "49150"
    assert runner.substitute("{match.ip}", res, pkt) == bytes(pkt[IP]).hex()
    with pytest.raises(runner.BackendError, match="no udp layer"):
        runner.substitute("{match.udp.sport}", res, pkt)
    with pytest.raises(runner.BackendError, match="replied no addr"):
        runner.substitute("{step3.addr}", res, pkt)


def test_inject_builds_and_injects(tmp_path):
    net = FakeNet(None)
    sc = load(tmp_path, """
        s = socket stream
        sockname s
        inject link=1 tcp-rst src=10.0.2.100 dst=10.0.2.15 sport=80 dport={step2.port} seq=7
        """)
    run_local(sc, fake_backend(tmp_path, net), T0, {})
    frame, link = net.frames[0]
    p = Ether(frame)
    assert link == 1 and p[TCP].dport == 1234 and p[TCP].seq == 7 and p[TCP].flags == "R"


def _append(path, pkts):
    with open(path, "ab") as f:
        for p in pkts:
            b = bytes(p)
            t = time.time()
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(b), len(b)) + b)


def test_respond_answers_live_packets(tmp_path):
    live = tmp_path / "capture.pcap"
    with open(live, "wb") as f:  # a classic pcap header, as QEMU's filter-dump writes
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    old = Ether() / IP(src=GUEST, dst=PEER) / TCP(sport=1, dport=80, flags="PA", seq=1, ack=1) / b"x"
    _append(live, [old])  # before the step: not answered
    net = FakeNet(None)
    be = fake_backend(tmp_path, net)
    sc = load(tmp_path, """
        respond "src host 10.0.2.15 and tcp[tcpflags] & tcp-push != 0" tcp-rst src={match.ip.dst} dst={match.ip.src} sport={match.tcp.dport} dport={match.tcp.sport} seq={match.tcp.ack} count=2
        """)
    wr = runner.WireRun(be, sc)
    res = [wr.run_step(sc.steps[0], [])]
    time.sleep(0.1)
    seg = [Ether() / IP(src=GUEST, dst=PEER) / TCP(sport=49152 + i, dport=80, flags="PA", seq=10, ack=500 + i) / b"y"
           for i in range(3)]
    ack = Ether() / IP(src=GUEST, dst=PEER) / TCP(sport=5, dport=80, flags="A")
    _append(live, [ack, seg[0]])
    deadline = time.time() + 5
    while len(net.frames) < 1 and time.time() < deadline:
        time.sleep(0.05)
    _append(live, seg[1:])
    while len(net.frames) < 2 and time.time() < deadline:
        time.sleep(0.05)
    wr.finish(res)
    got = [Ether(f)[TCP] for f, _ in net.frames]
    assert [(t.dport, t.seq, t.sport) for t in got] == [(49152, 500, 80), (49153, 501, 80)]
    assert res[0].reply["status"] == "ok" and res[0].reply["responded"] == 2


def test_respond_that_never_matched_fails(tmp_path):
    with open(tmp_path / "capture.pcap", "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    sc = load(tmp_path, 'respond "udp port 53" dns-reply id={match.dns.id} qname=a.test')
    res = run_local(sc, fake_backend(tmp_path, FakeNet(None)), T0, {})
    assert res[0].reply["status"] == "fail" and "no guest packet matched" in res[0].reply["message"]
    problems, _ = runner.check_local_steps(sc, "ovmf", res)
    assert "respond" in problems[0]


# ---------------------------------------------------------------- capabilities

def test_capabilities_skip_on_linux_and_fakes(tmp_path):
    sc = load(tmp_path, 'wire count "tcp" 1\ninject ipv6-ra')
    opts = types.SimpleNamespace(update_golden=False)
    assert "capture" in backends.LinuxBackend(opts).unsupported(sc)
    assert "inject" in backends.BACKENDS["fakes"](opts).unsupported(sc)
    be = fake_backend(tmp_path, FakeNet())
    runner.wire_capabilities(be)
    assert {"capture", "inject"} <= be.supports
    be2 = fake_backend(tmp_path, types.SimpleNamespace())
    runner.wire_capabilities(be2)
    assert be2.supports == {"capture"}
    assert runner.golden_waives(types.SimpleNamespace(update_golden=True), "linux", "capture")
    assert not runner.golden_waives(types.SimpleNamespace(update_golden=True), "linux", "inject")
    assert not runner.golden_waives(opts, "linux", "capture")


def test_run_skips_wire_scenarios_on_linux(tmp_path):
    sc = load(tmp_path, 's = socket stream\nclose s\nwire count "tcp" 1')
    opts = types.SimpleNamespace(update_golden=False, nic=None, net=None, isolation="test", quirks=None,
                                 timeout=5, scenario_dir=str(tmp_path), keep=False)
    res = runner.run_backend("linux", [sc], opts, str(tmp_path / "linux"), lambda m: None)
    c = res["scenarios"][0]
    assert c["verdict"] == "skip" and "capture" in c["why"]
