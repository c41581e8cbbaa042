"""network.connectivity against real namespaces, through the real CLI run
inside the workstation namespace: each site or software fault a technician
meets gets the right finding, fault domain and exit code.

With DGNET_RECORD=1 every scenario also writes its facts and expectations to
tests/data/network.connectivity/<scenario>.json, which is how those files
were recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import DATA, ROOT, needs_root, run_cli
from tests.rigs.netns import GW_ADDR, SRV_ADDR, SRV_NAME, WS_IF, netrig  # noqa: F401 - fixture

pytestmark = needs_root
CHECK = "network.connectivity"


def run(rig, tmp_path, scenario: str, description: str, expect: list[dict], *, server: str = SRV_NAME,
        **network) -> tuple[int, dict]:
    """Run the check in the workstation namespace; assert *expect* on the
    JSON report (every entry names a finding by subject)."""
    section = {"server": server, "ports": [rig.port], "probe_timeout_s": 1.0, **network}
    toml = "[site]\nrole = \"workstation\"\n[network]\n" + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in section.items())
    cfg = tmp_path / "site.toml"
    cfg.write_text(toml)
    facts_file = tmp_path / "facts.json"
    got = run_cli("run", "--config", str(cfg), "--only", CHECK, "--format", "json",
                  "--save-facts", str(facts_file), prefix=rig.prefix, timeout=60)
    assert got.stdout, got.stderr
    report = json.loads(got.stdout)
    by_subject = {f["subject"]: f for f in report["findings"]}
    for e in expect:
        f = by_subject.get(e["subject"])
        assert f is not None, f"no finding about {e['subject']}: {sorted(by_subject)}"
        assert f["status"] == e["status"], f
        assert f["fault"] == e.get("fault"), f
        assert e.get("title_contains", "").lower() in f["title"].lower(), f
        assert f["evidence"], f
    if os.environ.get("DGNET_RECORD"):
        facts = json.loads(facts_file.read_text())["checks"][CHECK]["facts"]
        out = DATA / CHECK / f"{scenario}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"description": description, "config": section, "facts": facts,
                                   "expect": expect}, indent=1) + "\n")
    return got.returncode, report


def by_subject(report: dict) -> dict[str, dict]:
    return {f["subject"]: f for f in report["findings"]}


def test_healthy_workstation_is_all_ok(netrig, tmp_path):
    port = f"{SRV_NAME}:{netrig.port}"
    rc, report = run(netrig, tmp_path, "healthy", "Workstation namespace, switch with the gateway, server "
                     "listening; the server is found by name through /etc/hosts.", [
                         {"subject": WS_IF, "status": "ok", "title_contains": "198.51.100.10"},
                         {"subject": GW_ADDR, "status": "ok", "title_contains": "answers"},
                         {"subject": SRV_NAME, "status": "ok", "title_contains": "answers"},
                         {"subject": port, "status": "ok", "title_contains": "accepts connections"},
                     ])
    assert rc == 0
    f = by_subject(report)
    assert f[WS_IF]["evidence"]["scope"] == "local"
    assert f[WS_IF]["evidence"]["carrier"] == 1
    assert f[GW_ADDR]["evidence"]["arp"]["state"] == "reachable"
    assert f[SRV_NAME]["evidence"]["address"] == SRV_ADDR
    assert f[SRV_NAME]["evidence"]["ping"]["received"] == f[SRV_NAME]["evidence"]["ping"]["sent"] == 20
    assert f[SRV_NAME]["evidence"]["scope"] == "remote"
    assert f[port]["evidence"]["state"] == "open"
    assert report["verdict"]["headline"].startswith("All checks passed")


def test_cable_pulled_is_one_local_site_fault(netrig, tmp_path):
    netrig.pull_cable()
    rc, report = run(netrig, tmp_path, "cable-pulled", "The switch port of the workstation went dark "
                     "(peer end of the veth set down): no carrier.", [
                         {"subject": WS_IF, "status": "fail", "fault": "site",
                          "title_contains": "Network cable unplugged or switch port dead"},
                         {"subject": SRV_ADDR, "status": "fail", "fault": "site", "title_contains": "cannot be reached"},
                     ], server=SRV_ADDR)
    assert rc == 2
    f = by_subject(report)
    link = f[WS_IF]
    assert link["evidence"]["scope"] == "local"
    assert link["evidence"]["carrier"] == 0
    assert "ip link show" in link["remedy"]
    # Everything beyond the dead link is its consequence, not a fault of its own.
    for subject in (GW_ADDR, SRV_ADDR, f"{SRV_ADDR}:{netrig.port}"):
        assert f[subject]["evidence"]["scope"] == "remote"
        assert f[subject]["fault"] == "site", f[subject]
        assert f[subject]["caused_by"] == [link["id"]], f[subject]
        assert "this PC's own link is down" in f[subject]["title"]
    assert f[GW_ADDR]["caused_by"] == [link["id"]]
    assert report["verdict"]["site_faults"] == 1
    assert report["verdict"]["software_faults"] == 0
    assert report["findings"][0]["id"] == link["id"]


def test_link_without_address_is_dhcp_site_fault(netrig, tmp_path):
    netrig.drop_address()
    rc, report = run(netrig, tmp_path, "no-address", "Link up with carrier but the address was flushed "
                     "(as if DHCP never answered); the default route went with it.", [
                         {"subject": WS_IF, "status": "fail", "fault": "site", "title_contains": "no IP address"},
                         {"subject": SRV_ADDR, "status": "fail", "fault": "site"},
                     ], server=SRV_ADDR)
    assert rc == 2
    f = by_subject(report)
    assert f[WS_IF]["evidence"]["carrier"] == 1
    assert "dhclient" in f[WS_IF]["remedy"]
    assert f[SRV_ADDR]["caused_by"] == [f[WS_IF]["id"]]
    assert report["verdict"]["site_faults"] == 1


def test_closed_port_is_a_software_fault(netrig, tmp_path):
    netrig.stop_listener()
    port = f"{SRV_NAME}:{netrig.port}"
    rc, report = run(netrig, tmp_path, "port-closed", "The server answers but nothing listens on the "
                     "call-center port any more (listener stopped).", [
                         {"subject": WS_IF, "status": "ok"},
                         {"subject": SRV_NAME, "status": "ok"},
                         {"subject": port, "status": "fail", "fault": "software",
                          "title_contains": "call-center service on the server is not listening"},
                     ])
    assert rc == 2
    f = by_subject(report)
    assert f[port]["evidence"]["state"] == "refused"
    assert f[port]["caused_by"] == []
    assert report["verdict"]["software_faults"] == 1
    assert report["verdict"]["site_faults"] == 0


def test_server_gone_while_gateway_answers_is_undetermined(netrig, tmp_path):
    netrig.delete_server()
    port = f"{SRV_NAME}:{netrig.port}"
    rc, report = run(netrig, tmp_path, "server-gone", "The server namespace was deleted (server off); "
                     "the workstation's link and the gateway still work.", [
                         {"subject": WS_IF, "status": "ok"},
                         {"subject": GW_ADDR, "status": "ok"},
                         {"subject": SRV_NAME, "status": "fail", "fault": "undetermined",
                          "title_contains": "does not answer while the gateway"},
                         {"subject": port, "status": "fail", "fault": "undetermined"},
                     ])
    assert rc == 2
    f = by_subject(report)
    assert f[SRV_NAME]["evidence"]["ping"]["received"] == 0
    assert f[port]["caused_by"] == [f[SRV_NAME]["id"]]
    assert report["verdict"]["undetermined"] == 1


def test_packet_loss_is_too_poor_for_voice(netrig, tmp_path):
    how = netrig.add_loss(30)
    # 40 echoes per target: the chance that 30% loss spares all of them is 0.7**40, below 1e-6.
    rc, report = run(netrig, tmp_path, "loss-30", f"30% of the workstation's packets lost ({how}).", [
        {"subject": WS_IF, "status": "ok"},
        {"subject": GW_ADDR, "status": "fail", "fault": "site", "title_contains": "too poor for voice"},
        {"subject": SRV_NAME, "status": "fail", "fault": "site", "title_contains": "too poor for voice"},
    ], ping_count=40, probe_timeout_s=1.5)
    assert rc == 2
    f = by_subject(report)
    # The first hop already loses packets: the server's poor path is its consequence.
    assert f[GW_ADDR]["caused_by"] == []
    assert f[GW_ADDR]["evidence"]["ping"]["loss_percent"] > 1
    assert f[SRV_NAME]["caused_by"] == [f[GW_ADDR]["id"]]
    assert report["verdict"]["site_faults"] == 1
    assert report["verdict"]["software_faults"] == 0


def test_unknown_server_name_says_so(netrig, tmp_path):
    # The nameserver refuses (nothing listens): the lookup cannot be done, a
    # site fault naming the DNS server (tests/test_network_dns.py has the rest).
    rc, report = run(netrig, tmp_path, "name-unknown", "The configured server name is in neither "
                     "/etc/hosts nor DNS (the nameserver refuses).", [
                         {"subject": "nosuch.dgnet.test", "status": "fail", "fault": "site",
                          "title_contains": "cannot be looked up"},
                         {"subject": WS_IF, "status": "ok"},
                     ], server="nosuch.dgnet.test")
    assert rc == 2
    f = by_subject(report)["nosuch.dgnet.test"]
    assert "getent hosts nosuch.dgnet.test" in f["remedy"]


def test_text_report_names_the_cable(netrig, tmp_path):
    netrig.pull_cable()
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[site]\nrole = "workstation"\n[network]\nserver = "{SRV_ADDR}"\nports = [{netrig.port}]\n')
    got = run_cli("run", "--config", str(cfg), "--only", CHECK, prefix=netrig.prefix, timeout=60)
    assert got.returncode == 2
    assert "Network cable unplugged or switch port dead on dgn-ws0" in got.stdout
    assert "1 site fault" in got.stdout


def test_no_config_still_checks_the_link(netrig, tmp_path):
    """Without a [network] section the link, address and gateway are still judged."""
    cfg = tmp_path / "site.toml"
    cfg.write_text('[site]\nrole = "workstation"\n')
    got = run_cli("run", "--config", str(cfg), "--only", CHECK, "--format", "json",
                  prefix=netrig.prefix, timeout=60)
    assert got.returncode == 0, got.stdout + got.stderr
    f = by_subject(json.loads(got.stdout))
    assert set(f) == {WS_IF, GW_ADDR}


def test_configured_interface_missing(netrig, tmp_path):
    rc, report = run(netrig, tmp_path, "interface-missing", "[network] interface names eth9, which this "
                     "workstation does not have.", [
                         {"subject": "eth9", "status": "fail", "fault": "site", "title_contains": "does not exist"},
                     ], server=SRV_ADDR, interface="eth9")
    assert rc == 2
    assert WS_IF in by_subject(report)["eth9"]["detail"]


def test_interface_switched_off(netrig, tmp_path):
    netrig.exec(netrig.ws, "ip", "link", "set", WS_IF, "down")
    rc, report = run(netrig, tmp_path, "admin-down", "The workstation's interface was set down "
                     "(`ip link set dgn-ws0 down`): reading its carrier gives EINVAL.", [
                         {"subject": WS_IF, "status": "fail", "fault": "site", "title_contains": "switched off"},
                         {"subject": SRV_ADDR, "status": "fail", "fault": "site"},
                     ], server=SRV_ADDR, interface=WS_IF)
    assert rc == 2
    f = by_subject(report)
    assert f[WS_IF]["evidence"]["carrier_error"] == "EINVAL"
    assert f"ip link set {WS_IF} up" in f[WS_IF]["remedy"]
    assert f[SRV_ADDR]["caused_by"] == [f[WS_IF]["id"]]


def test_init_names_the_default_route_interface(netrig, tmp_path):
    # The check's own snippet for `diagnose init`, detected inside the namespace.
    snippet = ("from diagnose.checks.network.check import NetworkConnectivity\nfrom diagnose.host import Host\n"
               "print(NetworkConnectivity().init_section(Host()))")
    got = subprocess.run(netrig.prefix + [sys.executable, "-c", snippet], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True)
    text = got.stdout
    out = tmp_path / "site.toml"
    out.write_text('[site]\nrole = "workstation"\n' + text)
    assert f'[network]\ninterface = "{WS_IF}"' in text
    assert f"gateway {GW_ADDR}" in text
    # The written file is valid as it stands: the link is judged on that interface.
    netrig.pull_cable()
    got = run_cli("run", "--config", str(out), "--only", CHECK, "--format", "json", prefix=netrig.prefix,
                  timeout=60)
    link = by_subject(json.loads(got.stdout))[WS_IF]
    assert link["evidence"]["selected_by"] == "config"
    assert "Network cable unplugged" in link["title"]
