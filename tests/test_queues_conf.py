"""Asterisk's config format as config.c reads it: includes relative to the
config directory, globs, #tryinclude, templates, (+) appends, comments;
and the dialplan lookups that tell whether a member's device exists."""

from __future__ import annotations

from diagnose.checks.asterisk import conf, dialplan, queueconf
from diagnose.host import Host


def write(root, name, text):
    p = root / "etc/asterisk" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_includes_templates_appends_and_comments(tmp_path):
    write(tmp_path, "queues.conf",
          "[general]\npersistentmembers=yes ; a comment\n"
          ";-- a block comment\n[ghost]\nstrategy=linear\n--;\n"
          "[tpl](!)\ntimeout=30\nretry=2\n"
          "#include queues_*.conf\n#tryinclude missing_custom.conf\n#include \"loop.conf\"\n"
          "[support](tpl)\nstrategy = leastrecent\nmember => SIP/101,1,Ann\\, the lead,SIP/101,,,1\n"
          "[support](+)\nmember => SIP/102\n#exec /bin/false\n")
    write(tmp_path, "queues_additional.conf", "[sales]\nstrategy=rrordered\nmember=PJSIP/201\n")
    write(tmp_path, "loop.conf", "#include loop.conf\n")
    facts = queueconf.load_queues(Host(str(tmp_path)), "/etc/asterisk")
    q = facts["queues"]
    assert sorted(q) == ["sales", "support"]          # templates, [general], the commented [ghost] are not queues
    s = q["support"]
    assert s["strategy"] == "leastrecent" and s["timeout_s"] == 30 and s["retry_s"] == 2
    assert [m["interface"] for m in s["members"]] == ["SIP/101", "SIP/102"]
    assert s["members"][0]["name"] == "Ann, the lead" and s["members"][0]["penalty"] == 1
    assert s["members"][0]["paused"] is True
    assert s["strategy_source"] == {"file": "/etc/asterisk/queues.conf", "line": 14}
    assert q["sales"]["strategy_source"]["file"] == "/etc/asterisk/queues_additional.conf"
    files = {f["path"]: f for f in facts["files"]}
    assert files["/etc/asterisk/missing_custom.conf"]["error"] is None   # tryinclude: fine when absent
    assert any(f["error"] == "include loop" for f in facts["files"])
    assert files["/etc/asterisk/queues.conf"]["exec"] == ["/bin/false"]


def test_defaults_follow_app_queue(tmp_path):
    write(tmp_path, "queues.conf", "[q]\nmember=PJSIP/1\n")
    q = queueconf.load_queues(Host(str(tmp_path)), "/etc/asterisk")["queues"]["q"]
    assert (q["strategy"], q["timeout_s"], q["retry_s"], q["ringinuse"]) == ("ringall", 15, 5, True)
    assert q["strategy_source"] is None


def test_device_lookups(tmp_path):
    write(tmp_path, "pjsip.conf", "[ep](!)\ntype=endpoint\n[201](ep)\nauth=a\n[201-aor]\ntype=aor\n")
    write(tmp_path, "sip.conf", "[general]\n[301]\ntype=friend\n")
    write(tmp_path, "extensions.conf",
          "[from-queue]\ninclude => ext-local\nexten => _4XX,1,NoOp\n"
          "[ext-local]\nexten => 201,hint,PJSIP/201&Custom:DND201\nexten => 201,1,Dial(PJSIP/201)\n")
    d = dialplan.load_devices(Host(str(tmp_path)), "/etc/asterisk")
    assert d["pjsip"] == ["201"] and d["sip"] == ["301"]
    assert dialplan.exists("PJSIP/201", d)[0] is True
    assert dialplan.exists("PJSIP/299", d) == (False, "no endpoint [299] in pjsip.conf or the files it includes")
    assert dialplan.exists("SIP/301", d)[0] is True
    assert dialplan.exists("Local/412@from-queue/n", d)[0] is True        # pattern _4XX
    assert dialplan.exists("Local/201@from-queue/n", d)[0] is True        # through include => ext-local
    assert dialplan.exists("Local/599@from-queue/n", d)[0] is False
    assert dialplan.exists("DAHDI/1", d)[0] is None
    assert dialplan.device_of("Local/201@from-queue/n", "hint:201@ext-local", d) == "PJSIP/201"
    assert dialplan.device_of("Local/299@from-queue/n", "hint:299@ext-local", d) == "hint:299@ext-local"


def test_parser_survives_binary_and_huge_lines(tmp_path):
    write(tmp_path, "queues.conf", "[q]\nstrategy=linear\n" + "x" * 100000 + "\n\x00\xff=\n")
    parsed = conf.load(Host(str(tmp_path)), "/etc/asterisk/queues.conf", "/etc/asterisk")
    assert parsed.categories[0].name == "q"
