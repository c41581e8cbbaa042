"""Regenerates the recorded config.drift scenarios in this folder from real
probe runs: a recorded tree (tests/rigs/baseline.py), a baseline recorded
an hour "earlier", a change made the way a person makes it, the witnesses
that change leaves, and then the config.drift probe. Paths of the temporary
tree are rewritten to /srv/recorded/cc-srv01, the state directory to
/var/lib/diagnose.

    DIAGNOSE_STATE_DIR=/tmp/x python3 tests/data/config.drift/regenerate.py
"""
import json, os, shutil, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.rigs import baseline as rig
from diagnose.registry import Registry
from diagnose.config import load
from diagnose.host import Host
from diagnose.runner import collect
from diagnose.state.baseline import record

OUT = Path(__file__).resolve().parent
reg = Registry.discover()

def scenario(name, description, setup, expect, extra_cfg="", installers=("integrator",)):
    tmp = Path(tempfile.mkdtemp(prefix="dg-gen-"))
    root = rig.make_tree(tmp / "tree")
    (root / "etc/asterisk/pjsip.conf").write_text("[trunk-auth]\ntype=auth\nauth_type=userpass\nusername=office\npassword=Fxo-Trunk-7731\n")
    cfgp = rig.config(tmp, root, installers=installers, extra=extra_cfg)
    os.environ["DIAGNOSE_STATE_DIR"] = str(tmp / "state")
    cfg = load(str(cfgp), reg.schemas(), reg.multi_sections())
    record(reg, cfg, Host(str(root)), by="integrator", note="acceptance", collect_facts=False)
    rig.backdate(tmp / "state", 3600)
    setup(root)
    col = collect(reg, Host(str(root)), cfg, only=["config.drift"])
    got = col.results["config.drift"]
    assert got.state == "ran", got.error
    facts = json.loads(json.dumps(got.facts).replace(str(root), "/srv/recorded/cc-srv01").replace(str(tmp / "state"), "/var/lib/diagnose"))
    facts["root"] = "/srv/recorded/cc-srv01"
    facts["config_path"] = "/etc/diagnose/site.toml"
    doc = {"description": description, "config": {"installer_accounts": list(installers)}, "facts": facts, "expect": expect}
    if extra_cfg:
        doc["config"]["vendor_packages"] = ["asterisk-*"]
    (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    shutil.rmtree(tmp)
    print(name, [ (f["path"], f.get("changed_by", {}).get("actor")) for f in facts.get("files", [])])

def local(root):
    c = rig.edit(root / "etc/asterisk/chan_dahdi.conf", "rxgain=0.0", "rxgain=9.5")
    rig.write_wtmp(root, [("ivan", "pts/0", c - 900, None), ("petr", "tty1", c - 7200, c - 5000)])
    rig.append(root / "var/log/auth.log", rig.sudo_line(c - 60, "ivan", "/usr/bin/vim /etc/asterisk/chan_dahdi.conf"))

scenario("local-user-changed-gain",
         "ivan (a site account) raised rxgain in chan_dahdi.conf with sudo vim while logged in on pts/0: site, high confidence",
         local, [{"subject": "/etc/asterisk/chan_dahdi.conf", "status": "warn", "fault": "site", "title_contains": "rxgain 0.0 -> 9.5 in [channels]"}])

def nobody(root):
    rig.edit(root / "etc/asterisk/queues.conf", "strategy=ringall", "strategy=linear")
scenario("unknown-actor",
         "queues.conf strategy changed ringall -> linear; no audit log, etckeeper, sudo lines, histories or sessions in the tree: undetermined",
         nobody, [{"subject": "/etc/asterisk/queues.conf", "status": "warn", "fault": "undetermined", "title_contains": "strategy ringall -> linear in [support]"}])

def installer(root):
    c = rig.edit(root / "etc/asterisk/queues.conf", "timeout=20", "timeout=25")
    rig.write_wtmp(root, [("integrator", "pts/1", c - 300, c + 200)])
scenario("installer-session",
         "the installer's account was the only session open when queues.conf timeout changed: software, medium confidence",
         installer, [{"subject": "/etc/asterisk/queues.conf", "status": "warn", "fault": "software"}])

def package(root):
    rig.own(root, "asterisk-config", "/etc/asterisk/chan_dahdi.conf")
    c = rig.edit(root / "etc/asterisk/chan_dahdi.conf", "echocancel=yes", "echocancel=no")
    rig.dpkg_upgrade(root, c, "asterisk-config", "1:20.6.0-1", "1:20.8.0-1", "/etc/asterisk/chan_dahdi.conf")
scenario("package-upgrade",
         "an apt-get upgrade of asterisk-config (not a vendor package) replaced chan_dahdi.conf: site",
         package, [{"subject": "/etc/asterisk/chan_dahdi.conf", "status": "warn", "fault": "site"}])
scenario("vendor-package-upgrade",
         "the same upgrade when [baseline] vendor_packages names asterisk-*: software",
         package, [{"subject": "/etc/asterisk/chan_dahdi.conf", "status": "warn", "fault": "software"}],
         extra_cfg='vendor_packages = ["asterisk-*"]\n')

def secret(root):
    c = rig.edit(root / "etc/asterisk/pjsip.conf", "password=Fxo-Trunk-7731", "password=Changed-By-Site-42")
    rig.write_wtmp(root, [("petr", "pts/2", c - 100, None)])
scenario("secret-changed",
         "the trunk password in pjsip.conf changed while petr was logged in: reported as changed, never by value",
         secret, [{"subject": "/etc/asterisk/pjsip.conf", "status": "warn", "fault": "site", "title_contains": "secret password changed in [trunk-auth]"}])

def comments(root):
    rig.edit(root / "etc/asterisk/chan_dahdi.conf", "; chan_dahdi.conf: DAHDI channels", "; chan_dahdi.conf -- DAHDI channels, reviewed")
scenario("comment-only",
         "only a comment in chan_dahdi.conf changed: no setting differs, so no problem",
         comments, [{"subject": "/etc/asterisk/chan_dahdi.conf", "status": "ok"}])

scenario("no-drift", "nothing changed since acceptance", lambda root: None, [{"subject": "baseline", "status": "ok"}])

def removed(root):
    (root / "etc/asterisk/queues.conf").unlink()
scenario("file-removed", "queues.conf was deleted after acceptance: undetermined (nothing records deletions)",
         removed, [{"subject": "/etc/asterisk/queues.conf", "status": "warn", "fault": "undetermined"}])
