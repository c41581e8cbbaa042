"""One report holding every case a renderer must handle: two site faults, a
software fault, a consequence, a check error, a skip, an ok finding, and
hostile strings taken from the system."""

from __future__ import annotations

from diagnose.attribution import attribute
from diagnose.model import CheckResult, Fault, Finding, Report, Status, make_verdict

HOSTILE = "<script>alert(1)</script>"


def sample_report() -> Report:
    findings = [
        Finding("disk.space", "/srv", Status.FAIL, "Data disk /srv is 100% full", Fault.SITE,
                detail="97% of the used space is outside the application's data paths.",
                evidence={"mount": "/srv", "free_percent": 0.0,
                          "top_foreign": [{"path": f"/srv/share/{HOSTILE}", "owner": HOSTILE,
                                           "bytes": 44_236_000_000, "types": {"video": 0.93}}]},
                remedy=f"Move or delete /srv/share/{HOSTILE} (41.2 GB, owner {HOSTILE})"),
        Finding("database.integrity", "callcenter", Status.FAIL, "Database callcenter is corrupt",
                Fault.SOFTWARE, detail="integrity_check reports 3 errors in index idx_calls_agent.",
                evidence={"mount": "/srv", "errors": ["row 12 missing from index idx_calls_agent"]},
                remedy="Free the disk first, back up /srv/cc.db, then REINDEX idx_calls_agent"),
        Finding("application.services", "callcenter", Status.FAIL, "callcenter crashed: KeyError 'queue'",
                Fault.SOFTWARE, detail="The process exited with status 1 after a Python traceback.",
                evidence={"databases": [], "mounts": ["/"], "log_tail": ["Traceback ...", "KeyError: 'queue'"]},
                remedy="journalctl -u callcenter -n 200 > callcenter.log; send it to the vendor"),
        Finding("network.connectivity", "eth0", Status.WARN, "Network quality too poor for voice", Fault.SITE,
                detail="32% packet loss to the server.", evidence={"scope": "local", "loss_percent": 32.0},
                remedy="Check the cable and switch port of this workstation"),
        Finding("headset.presence", "usb:1-2", Status.OK, "Jabra Evolve2 40 present",
                evidence={"vendor": "0b0e", "product": "Jabra Evolve2 40"}),
    ]
    checks = [
        CheckResult("disk.space", Status.FAIL, 0.21),
        CheckResult("database.integrity", Status.FAIL, 0.5),
        CheckResult("application.services", Status.FAIL, 0.05),
        CheckResult("network.connectivity", Status.WARN, 1.2),
        CheckResult("headset.presence", Status.OK, 0.03),
        CheckResult("gateway.power", Status.ERROR, 10.0, error="probe timed out after 10s and was abandoned"),
        CheckResult("bluetooth.interference", Status.SKIP, 0.0, skipped="BlueZ is not running (org.bluez has no owner)"),
    ]
    findings = attribute(findings)
    return Report("0.1.0", "cc-srv01", "Sales office", "both", "2026-11-22T07:00:00+00:00", 12.34,
                  findings, checks, make_verdict(findings, checks))
