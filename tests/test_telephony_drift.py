"""Acceptance of telephony.card with the acceptance baseline: the gains of
ports 1-4 raised in chan_dahdi.conf by a local user after the baseline was
recorded. The gain findings nest under config.drift's finding about the file,
which names the actor and the accepted value; the verdict counts one site
fault. Real CLI, recorded DAHDI tree and witness records (tests/rigs/baseline.py)
under tmp_path, state directory in tmp_path."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.rigs import baseline as rig
from tests.telephony_trees import build_tree

DAHDI = "/etc/asterisk/chan_dahdi.conf"


def test_gains_raised_by_a_local_user_after_acceptance_nest_under_the_drift(tmp_path):
    root = build_tree("fxo4-healthy", tmp_path / "tree")
    (root / "etc/passwd").write_text(rig.PASSWD)
    (root / "etc/group").write_text(rig.GROUP)
    cfg = tmp_path / "site.toml"
    cfg.write_text('[site]\nname = "Sales office"\nrole = "server"\n\n'
                   '[baseline]\ninstaller_accounts = ["integrator"]\n')
    env = {"DIAGNOSE_STATE_DIR": str(tmp_path / "state")}

    def cli(*args: str):
        return run_cli(*args, "--config", str(cfg), "--root", str(root), env=env)

    rec = cli("baseline", "record", "--by", "integrator", "--note", "acceptance on site")
    assert rec.returncode == 0, rec.stderr
    rig.backdate(tmp_path / "state", 3600)
    healthy = cli("run", "--only", "config.drift", "--only", "telephony.card", "--format", "json")
    assert healthy.returncode == 0, healthy.stdout

    changed = rig.edit(root / "etc/asterisk/chan_dahdi.conf", "rxgain=0.0\ntxgain=0.0",
                       "rxgain=9.5\ntxgain=9.5")
    rig.write_wtmp(root, [("ivan", "pts/0", changed - 900, None)])
    rig.append(root / "var/log/auth.log", rig.sudo_line(changed - 60, "ivan", f"/usr/bin/vim {DAHDI}"))
    out = cli("run", "--only", "config.drift", "--only", "telephony.card", "--format", "json")
    report = json.loads(out.stdout)
    found = {f["id"]: f for f in report["findings"]}

    drift = found[f"config.drift:{DAHDI}"]
    assert (drift["status"], drift["fault"]) == ("warn", "site")
    by = drift["evidence"]["changed_by"]
    assert (by["actor"], by["kind"]) == ("ivan", "local")
    assert {"section": "channels", "key": "rxgain", "baseline": "0.0", "current": "9.5"} in drift["evidence"]["changes"]
    assert "rxgain = 0.0 (now 9.5)" in drift["remedy"]

    for key in ("rxgain", "txgain"):
        gain = found[f"telephony.card:{key}:1-4"]
        assert gain["caused_by"] == [drift["id"]], gain
        assert gain["fault"] == "site" and gain["status"] == "warn"
        assert "+9.5 dB on channels 1-4" in gain["title"]
        assert (gain["evidence"]["file"], gain["evidence"]["key"]) == (DAHDI, key)
        assert gain["id"] in drift["consequences"]
    v = report["verdict"]
    assert (v["site_faults"], v["software_faults"], v["undetermined"]) == (1, 0, 0)
    assert out.returncode == 1

    text = cli("run", "--only", "config.drift", "--only", "telephony.card", "--format", "text").stdout
    drift_at = text.index(f"config.drift:{DAHDI}, Site fault")
    for title in ("Receive gain +9.5 dB on channels 1-4", "Transmit gain +9.5 dB on channels 1-4"):
        assert text.index(f"└─ [!] {title}") > drift_at, text
    assert "Verdict: 1 site fault, no software faults" in text
