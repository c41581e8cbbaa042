"""The faulty server and the faulty workstation of the story, as reports
judged by the real judges from recorded scenarios (tests/data), with
attribution and the site's configuration. The recordings' temporary paths
are given the site's real-looking ones, and a few things a customer must
never see are planted where they occur in life:

- a caller's phone number in the crashed service's traceback (a KeyError
  on the caller id) and in its error line;
- a database password in that error line (the runner masks it for everyone);
- the vendor's internal addresses: the database server on the vendor's VPN
  (10.44.0.7, in the service's log) and the vendor's SMTP relay
  (smtp.vendor.example) that failed to take the previous report.

The site's own addresses (its gateway, its server, this seat's address) stay
in the customer's report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diagnose.config import load, load_section
from diagnose.model import Report
from diagnose.registry import Registry
from diagnose.runner import Collected, Collection, evaluate

DATA = Path(__file__).resolve().parent.parent / "data"
CALLER = "+7 495 123-45-67"
CALLER_DIGITS = "74951234567"
SECRET = "Pw0rd-S3cret"
VENDOR_IPS = ("10.44.0.7",)
VENDOR_HOST = "smtp.vendor.example"
SITE_NETWORKS = ["192.0.2.0/24", "203.0.113.0/24", "198.51.100.0/24"]

PATHS = {
    "/tmp/dgdisk-538-2-mz21994k": "",  # its /srv is the site's data disk
    "/tmp/dgdb-rec-7993-d1mh59b0": "/srv/callcenter",
    "/tmp/dgsvc-rec-8awfiebh": "/opt/callcenter",
}

SERVER = ["disk.space/full-foreign", "database.integrity/sqlite-disk-full-in-log",
          "application.services/crashed-traceback", "gateway.power/power_off"]
WORKSTATION = ["headset.presence/unplugged-last-seen-in-kern-log", "audio.settings/muted-microphone",
               "network.connectivity/port-closed", "bluetooth.interference/weak_headset"]


def _scenario(ref: str) -> dict[str, Any]:
    check, name = ref.split("/")
    text = (DATA / check / f"{name}.json").read_text(encoding="utf-8")
    for old, new in PATHS.items():
        text = text.replace(old, new)
    return json.loads(text)


def _plant(check: str, d: dict[str, Any]) -> None:
    if check == "database.integrity":  # the database lives on the data disk
        for db in d["facts"]["databases"]:
            db["location"].update(mount="/srv", source="/dev/sdb1")
            for row in db["log"]["disk_full"]:
                row["mount"] = "/srv"
    if check != "application.services":
        return
    for item in d["config"]["items"]:
        item["databases"] = []  # its crash is its own: a software fault
    for svc in d["facts"]["services"]:
        svc["databases"] = []
        log = svc["log"]
        error = (f"2026-11-22 22:13:44,877 ERROR ccserver: request failed for caller {CALLER} "
                 f"(postgresql://cc:{SECRET}@{VENDOR_IPS[0]}/cc)")
        tb = ["Traceback (most recent call last):",
              '  File "/opt/callcenter/ccserver.py", line 40, in <module>',
              '    conn.sendall(("next agent: %s\\n" % members[caller_queue[caller]][0]).encode())',
              f"KeyError: '{CALLER_DIGITS}'"]
        log["last_lines"] = log["last_lines"][:2] + [error] + tb
        log["errors"] = [error]
        log["traceback"] = tb


def collection(refs: list[str], host: str, role: str, site: str = "Sales office"):
    """(registry, config, Collection) of the recorded scenarios *refs*."""
    registry = Registry.discover()
    config = load(None, registry.schemas(), registry.multi_sections())
    config.sections["site"] = dict(config.section("site"), name=site, role=role,
                                   networks=list(SITE_NETWORKS))
    config.present.add("site")
    col = Collection(host, site, role, "2026-11-22T07:00:00+00:00", 1.2, {}, "")
    for ref in refs:
        check_name = ref.split("/")[0]
        d = _scenario(ref)
        _plant(check_name, d)
        check = registry.checks[check_name]
        if check.section:
            config.sections[check.section] = load_section(check, d.get("config") or {})
            config.present.add(check.section)
        col.results[check_name] = Collected(check_name, "ran", d["facts"], duration_s=0.05)
    col.config = {k: v for k, v in config.sections.items() if k in config.present}
    return registry, config, col


def build(refs: list[str], host: str, role: str, site: str = "Sales office") -> tuple[Report, Any]:
    registry, config, col = collection(refs, host, role, site)
    return evaluate(registry, col, config), config


def faulty_server() -> tuple[Report, Any]:
    from diagnose.delivery.mail import _delivery_finding, with_finding
    from diagnose.delivery.smtp import _mail_error

    report, config = build(SERVER, "cc-srv01", "server")
    email = {"smtp_host": VENDOR_HOST, "smtp_port": 25, "reports_dir": "/var/lib/diagnose/reports"}
    # what a refused connection to the vendor's relay gives, as read back from the spool (English)
    err = _mail_error(ConnectionRefusedError(), f"{VENDOR_HOST}:25", VENDOR_HOST, email, "")
    stuck = {"subject": "[diagnose] Sales office / cc-srv01", "to": ["support@vendor.example"],
             "first_failed": "2026-11-21T07:00:00+00:00", "attempts": 2, "last_error": str(err),
             "fault": "site"}
    return with_finding(report, _delivery_finding(email, [], [stuck], [], err)), config


def faulty_workstation() -> tuple[Report, Any]:
    return build(WORKSTATION, "ws-07", "workstation")
