"""Under random packet loss a port's verdict is the same from run to run.

The workstation loses 30% of what it sends (tc netem, or nftables where the
kernel has no netem). On the server one port is open, one is filtered (an
nftables rule drops its SYNs, as a firewall does) and one is closed (the
kernel answers with a reset). The real CLI runs several times in the
workstation namespace; every run must give the same finding for each port:
a single lost SYN must not turn the open port into "filtered".
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import needs_root, run_cli
from tests.rigs.netns import SRV_NAME, netrig  # noqa: F401 - fixture

pytestmark = needs_root
CHECK = "network.connectivity"
RUNS = 5
FILTERED, CLOSED = 4444, 4445  # nothing listens on either; the first one's SYNs are dropped


def _firewall(rig) -> None:
    rules = ("table inet dg_fw {\n chain input {\n  type filter hook input priority 0;\n"
             f"  tcp dport {FILTERED} drop\n }}\n}}\n")
    subprocess.run(["ip", "netns", "exec", rig.srv, "nft", "-f", "-"], input=rules, text=True, check=True,
                   capture_output=True, timeout=20)


def _runs(rig, tmp_path, **network) -> list[dict]:
    section = {"server": SRV_NAME, "ports": [rig.port, FILTERED, CLOSED], "probe_timeout_s": 1.5,
               "ping_count": 40, **network}
    cfg = tmp_path / "site.toml"
    cfg.write_text("[site]\nrole = \"workstation\"\n[network]\n"
                   + "".join(f"{k} = {json.dumps(v)}\n" for k, v in section.items()))
    reports = []
    for _ in range(RUNS):
        got = run_cli("run", "--config", str(cfg), "--only", CHECK, "--format", "json", prefix=rig.prefix,
                      timeout=60)
        assert got.stdout, got.stderr
        reports.append(json.loads(got.stdout))
    return reports


def _port_findings(report: dict, rig) -> dict[int, dict]:
    by = {f["subject"]: f for f in report["findings"]}
    return {p: by[f"{SRV_NAME}:{p}"] for p in (rig.port, FILTERED, CLOSED)}


def _verdict(f: dict) -> tuple:
    # The open port's title carries its connect time; everything else is fixed words.
    title = f["title"] if f["evidence"]["state"] != "open" else "open"
    return f["status"], f["fault"], tuple(f["caused_by"]), f["evidence"]["state"], title


@pytest.fixture
def lossy(netrig):
    if not _nft_ok():
        pytest.skip("needs nft for the server's firewall rule")
    _firewall(netrig)
    netrig.how = netrig.add_loss(30)
    return netrig


def _nft_ok() -> bool:
    import shutil

    return shutil.which("nft") is not None


def test_port_verdicts_are_stable_under_loss_when_the_path_is_judged_good_enough(lossy, tmp_path):
    """Thresholds loose enough that the path itself is accepted: each port
    stands on its own finding."""
    reports = _runs(lossy, tmp_path, loss_percent=95, jitter_ms=1000, rtt_ms=1000)
    verdicts = [{p: _verdict(f) for p, f in _port_findings(r, lossy).items()} for r in reports]
    assert all(v == verdicts[0] for v in verdicts), json.dumps(verdicts, indent=1)
    first = _port_findings(reports[0], lossy)
    assert first[lossy.port]["status"] == "ok"
    assert "accepts connections" in first[lossy.port]["title"]
    filtered = first[FILTERED]
    assert (filtered["status"], filtered["fault"]) == ("fail", "undetermined")
    assert "does not answer (filtered)" in filtered["title"]
    # Silence was asked again before it was called silence.
    assert "attempts" in filtered["detail"]
    closed = first[CLOSED]
    assert (closed["status"], closed["fault"]) == ("fail", "software")
    assert "not listening on port" in closed["title"]
    assert all(r["verdict"]["status"] == "fail" for r in reports)


def test_port_verdicts_are_stable_under_loss_with_voice_thresholds(lossy, tmp_path):
    """Default voice thresholds: the path is too poor for voice (a site fault)
    and the filtered port nests under it, every time; the open port is still
    open and the closed one still a software fault."""
    reports = _runs(lossy, tmp_path)
    verdicts = [{p: _verdict(f) for p, f in _port_findings(r, lossy).items()} for r in reports]
    assert all(v == verdicts[0] for v in verdicts), json.dumps(verdicts, indent=1)
    first = _port_findings(reports[0], lossy)
    assert first[lossy.port]["status"] == "ok"
    assert first[FILTERED]["caused_by"] == [f"{CHECK}:{SRV_NAME}"]
    assert "cannot be judged: the path is at fault" in first[FILTERED]["title"]
    assert first[CLOSED]["fault"] == "software"
    assert {r["verdict"]["site_faults"] for r in reports} == {1}
    assert {r["verdict"]["software_faults"] for r in reports} == {1}


# -- gateway.power: SIP over TCP to a gateway behind a lossy link ---------------

def test_gateway_sip_over_tcp_verdict_is_stable_under_loss(tmp_path):
    """The server loses 30% of what it sends; the gateway's sipp answers
    OPTIONS over TCP. A lost SYN is asked again within the step's time, so
    the gateway reads as up and answering in every run, never as "SIP
    silent" in some."""
    from tests.rigs.gateway import GatewayRig, sh

    if not _nft_ok():
        pytest.skip("needs nft")
    rig = GatewayRig(tmp_path)
    try:
        rig.start_sipp("options_200.xml", transport="t1")
        got = sh("tc", "-n", rig.srv, "qdisc", "add", "dev", "eth0", "root", "netem", "loss", "30%", check=False)
        if got.returncode != 0:  # a kernel without sch_netem: lose 30% of what arrives instead
            rules = ("table inet dg_loss {\n chain input {\n  type filter hook input priority 0;\n"
                     "  iifname \"eth0\" numgen random mod 100 < 30 drop\n }\n}\n")
            subprocess.run(["ip", "netns", "exec", rig.srv, "nft", "-f", "-"], input=rules, text=True,
                           check=True, capture_output=True, timeout=20)
        seen = []
        for _ in range(RUNS):
            report, rc = rig.report(sip_transport="tcp")
            [f] = [x for x in report["findings"] if x["subject"] == "fxo-office-pbx"]
            sip = [r for r in f["evidence"]["ladder"] if r["rung"] == "sip/tcp"][0]
            seen.append((rc, f["status"], f["fault"], sip["result"]))
        assert all(s == seen[0] for s in seen), seen
        assert seen[0][:2] == (0, "ok") and seen[0][3] == "200 OK", seen
    finally:
        rig.close()
