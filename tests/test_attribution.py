"""Cross-check attribution: consequences link to root causes, inherit their
fault domain, and the verdict counts each real fault once."""

from __future__ import annotations

from diagnose.attribution import RULES, Rule, attribute
from diagnose.model import Fault, Finding, Status, make_verdict


def F(check, subject, status="fail", fault="software", **evidence):
    return Finding(check, subject, Status.parse(status), f"{check} {subject}", Fault(fault) if fault else None,
                   evidence=evidence, remedy="do something")


def test_full_disk_is_root_of_database_and_service_chain():
    disk = F("disk.space", "/srv", fault="site", mount="/srv")
    db = F("database.integrity", "callcenter", mount="/srv")
    svc = F("application.services", "ccserver", databases=["callcenter"], mounts=["/srv"], reason="stopped")
    other = F("application.services", "reporter", databases=[], mounts=["/"], reason="crashed")
    out = attribute([svc, other, db, disk])
    assert db.caused_by == ["disk.space:/srv"]
    # The service depends on the database and writes to the disk: the nearer cause wins.
    assert svc.caused_by == ["database.integrity:callcenter"]
    assert disk.consequences == ["database.integrity:callcenter"]
    assert db.consequences == ["application.services:ccserver"]
    assert db.fault is Fault.SITE and svc.fault is Fault.SITE  # inherited from the root
    assert db.detail == ("Consequence of disk.space:/srv: the database lives on the filesystem "
                         "that is full.")
    assert other.caused_by == [] and other.fault is Fault.SOFTWARE
    assert [f.id for f in out][:2] == ["disk.space:/srv", "application.services:reporter"]
    v = make_verdict(out, [])
    assert (v.site_faults, v.software_faults, v.undetermined) == (1, 1, 0)
    assert v.headline == "1 site fault, 1 software fault"


def test_disk_warning_alone_does_not_explain_corruption():
    disk = F("disk.space", "/srv", status="warn", fault="site")
    db = F("database.integrity", "callcenter", mount="/srv")
    attribute([disk, db])
    assert db.caused_by == [] and db.fault is Fault.SOFTWARE


def test_corruption_on_another_mount_is_not_linked():
    disk = F("disk.space", "/home", fault="site")
    db = F("database.integrity", "callcenter", mount="/srv")
    attribute([disk, db])
    assert db.caused_by == []


def test_ok_findings_are_never_linked():
    disk = F("disk.space", "/srv", status="ok", fault=None)
    db = F("database.integrity", "callcenter", mount="/srv")
    attribute([disk, db])
    assert db.caused_by == [] and disk.consequences == []


def test_local_link_down_makes_remote_findings_consequences():
    link = F("network.connectivity", "eth0", fault="site", scope="local")
    gw = F("gateway.power", "fxo-office-pbx", fault="site", scope="remote")
    srv = F("network.connectivity", "cc-srv01:8088", fault="undetermined", scope="remote")
    disk = F("disk.space", "/", fault="site")
    out = attribute([gw, srv, link, disk])
    assert gw.caused_by == ["network.connectivity:eth0"]
    assert srv.caused_by == ["network.connectivity:eth0"]
    assert srv.fault is Fault.SITE
    assert disk.caused_by == []
    v = make_verdict(out, [])
    assert v.site_faults == 2 and v.undetermined == 0


def test_links_set_by_a_judge_are_kept_and_cycles_never_made():
    a = F("x.check", "a", fault="site")
    b = F("x.check", "b", fault="software")
    b.caused_by = ["x.check:a"]
    cyc = Rule("cycle", cause="x.check", effect="x.check", why="test")
    attribute([a, b], rules=RULES + (cyc,))
    assert b.caused_by == ["x.check:a"]
    assert a.caused_by == []  # b -> a would close a cycle
    assert a.consequences == ["x.check:b"] and b.fault is Fault.SITE


def test_a_wrong_port_is_not_blamed_on_a_full_disk():
    disk = F("disk.space", "/", fault="site")
    svc = F("application.services", "ccserver", databases=[], mounts=["/"], reason="wrong-port")
    attribute([disk, svc])
    assert svc.caused_by == [] and svc.fault is Fault.SOFTWARE


def test_one_pulled_cable_is_one_fault_when_two_checks_see_it():
    link = F("network.connectivity", "eth0", fault="site", scope="local", interface="eth0")
    gw_link = F("gateway.power", "link:eth0", fault="site", scope="local", interface="eth0")
    gw = F("gateway.power", "fxo", fault="site", scope="remote")
    gw.caused_by = ["gateway.power:link:eth0"]  # linked by the gateway judge itself
    out = attribute([gw, gw_link, link])
    assert gw_link.caused_by == ["network.connectivity:eth0"]
    assert gw.caused_by == ["gateway.power:link:eth0"]  # the nearer cause only
    assert make_verdict(out, []).site_faults == 1


def test_a_poor_quality_warning_does_not_swallow_remote_faults():
    quality = F("network.connectivity", "eth0", status="warn", fault="site", scope="local")
    gw = F("gateway.power", "fxo", fault="site", scope="remote")
    attribute([quality, gw])
    assert gw.caused_by == []


def test_unplugged_headset_explains_missing_audio_device():
    headset = F("headset.presence", "headset", fault="site")
    mic = F("audio.settings", "microphone", fault="site", missing_device=True)
    muted = F("audio.settings", "speaker", fault="site", missing_device=False)
    attribute([mic, muted, headset])
    assert mic.caused_by == ["headset.presence:headset"]
    assert muted.caused_by == []


def test_a_database_refused_to_a_non_root_run_is_the_services_refusal_not_a_second_fault():
    # Run without root, diagnose is refused the root:root 0600 file like the service.
    svc = F("application.services", "callcenter", fault="site", databases=["cc"], mounts=["/srv"],
            reason="access-denied", denied_databases=["cc"])
    db = F("database.integrity", "cc", status="error", fault=None, reason="permission", mount="/srv")
    other = F("database.integrity", "reports", status="error", fault=None, reason="permission", mount="/srv")
    out = attribute([db, svc, other])
    assert db.caused_by == ["application.services:callcenter"] and db.fault is Fault.SITE
    assert other.caused_by == []  # not a file the service was refused
    assert svc.caused_by == [] and svc.consequences == ["database.integrity:cc"]
    assert len(out) == 3
