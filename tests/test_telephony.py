"""telephony.card parsers on the recorded formats (tests/data/telephony.card/
README.md says where each comes from) and its judge on recorded facts."""

from __future__ import annotations

import copy
import json

import pytest

from diagnose.check import section_config
from diagnose.checks.telephony import astcli, chandahdi, dahdicfg, kernel, procfs
from diagnose.checks.telephony.check import TelephonyCard
from diagnose.host import Host
from diagnose.model import Fault, Status
from tests.telephony_trees import ANSWERS, HERE, TREES, build_tree

CHECK = TelephonyCard()
CFG = section_config(CHECK, {})


def facts(name: str) -> dict:
    return json.loads((HERE / f"{name}.json").read_text())["facts"]


def problems(f: dict, cfg: dict | None = None):
    return [x for x in CHECK.judge(copy.deepcopy(f), cfg or CFG) if x.status.is_problem]


# -- /proc/dahdi and dahdi_scan ----------------------------------------------

def test_analog_span_file_of_the_tdm410p():
    span = procfs.parse_span((TREES / "fxo4-healthy/proc/dahdi/1").read_text(), "/proc/dahdi/1")
    assert (span["span"], span["name"], span["description"]) == (1, "WCTDM/0", "Wildcard TDM410P")
    assert span["master"] and not span["digital"] and span["alarms"] == [] and span["counters"] == {}
    assert [c["channel"] for c in span["channels"]] == [1, 2, 3, 4]
    c2 = span["channels"][1]
    assert (c2["name"], c2["signalling"], c2["in_use"], c2["alarms"]) == ("WCTDM/0/1", "FXSKS", True, [])
    assert c2["ec"] == {"name": "MG2", "state": "INACTIVE"}


def test_red_channel_and_digital_span_with_counters():
    red = procfs.parse_span((TREES / "fxo4-port2-no-battery/proc/dahdi/1").read_text())
    assert [c["alarms"] for c in red["channels"]] == [[], ["RED"], [], []]
    t1 = procfs.parse_span((TREES / "t1-span1-red/proc/dahdi/1").read_text())
    assert (t1["coding"], t1["framing"], t1["crc4"], t1["alarms"]) == ("B8ZS", "ESF", False, ["RED"])
    assert t1["digital"] and not t1["master"] and t1["counters"] == {"bpv": 312}
    assert t1["channels"][23]["signalling"] == "HDLCFCS" and t1["channels"][23]["ec"] is None
    ok = procfs.parse_span((TREES / "t1-span1-red/proc/dahdi/2").read_text())
    assert ok["master"] and ok["clock_source"] and ok["alarms"] == []


def test_header_and_channel_line_variants():
    text = ('Span 3: TE4/0/3 "T4XXP (PCI) Card 0 Span 3" HDB3/CCS/CRC4 RED YELLOW \n'
            "\tCRC4 error count: 17\n\tIRQ misses: 2\n\n"
            "\t  65 TE4/0/3/1 Clear (In use) (no pcm) RED YELLOW (SWEC: MG2) \n"
            "\t  80 TE4/0/3/16 Hardware-assisted HDLC (In use) \n"
            "\t  81 TE4/0/3/17 \n"
            "\t  82 TE4/0/3/18 SF (ToneOnly) Master \n"
            "\t  83 TE4/0/3/19 Reserved \n")
    span = procfs.parse_span(text)
    assert (span["coding"], span["framing"], span["crc4"]) == ("HDB3", "CCS", True)
    assert span["alarms"] == ["RED", "YELLOW"] and span["counters"] == {"crc4": 17, "irq_misses": 2}
    c = {x["channel"]: x for x in span["channels"]}
    assert c[65]["no_pcm"] and c[65]["alarms"] == ["RED", "YELLOW"] and c[65]["ec"] == {"name": "MG2", "state": None}
    assert c[80]["signalling"] == "Hardware-assisted HDLC"
    assert c[81]["signalling"] is None
    assert (c[82]["signalling"], c[82]["master"]) == ("SF (ToneOnly)", True)
    assert c[83]["signalling"] == "Reserved"
    assert procfs.parse_span("no header here\n") is None


DAHDI_SCAN = """[1]
active=yes
alarms=OK
description=Wildcard TDM410P
name=WCTDM/0
manufacturer=Digium
devicetype=Wildcard TDM410P
location=PCI Bus 03 Slot 01
basechan=1
totchans=4
irq=0
type=analog
port=1,FXO
port=2,FXO
port=3,none
port=4,FXS FAILED
[2]
active=yes
alarms=RED
description=T2XXP (PCI) Card 0 Span 1
name=TE2/0/1
manufacturer=Digium
devicetype=Wildcard TE205P (4th Gen)
location=Board ID Switch 0
basechan=5
totchans=24
irq=0
type=digital-T1
syncsrc=0
lbo=0 db (CSU)/0-133 feet (DSX-1)
coding_opts=B8ZS,AMI
framing_opts=ESF,D4
coding=B8ZS
framing=ESF
"""


def test_dahdi_scan_output():
    spans = procfs.parse_dahdi_scan(DAHDI_SCAN)
    assert [s["span"] for s in spans] == [1, 2]
    assert spans[0]["ports"] == [{"channel": 1, "type": "FXO", "failed": False},
                                 {"channel": 2, "type": "FXO", "failed": False},
                                 {"channel": 3, "type": "none", "failed": False},
                                 {"channel": 4, "type": "FXS", "failed": True}]
    assert (spans[1]["alarms"], spans[1]["type"], spans[1]["basechan"]) == ("RED", "digital-T1", 5)


# -- dahdi-tools configuration ----------------------------------------------

def test_system_conf_of_a_t1_card():
    text = (TREES / "t1-span1-red/etc/dahdi/system.conf").read_text()
    got = dahdicfg.parse_system_conf(text, "/etc/dahdi/system.conf")
    assert [(s["span"], s["framing"], s["coding"]) for s in got["spans"]] == [(1, "esf", "b8zs"), (2, "esf", "b8zs")]
    chans = {c["channel"]: c for c in got["channels"]}
    assert chans[1]["key"] == "bchan" and not chans[1]["data"]
    assert chans[24]["key"] == "dchan" and chans[24]["data"]
    assert [e["channel"] for e in got["echocancellers"]] == list(range(1, 24)) + list(range(25, 48))
    assert got["other"] == {"loadzone": "us", "defaultzone": "us"} and got["errors"] == []


def test_chanlists_and_ranges():
    assert dahdicfg.parse_chanlist("1-4, 6,8-10") == [1, 2, 3, 4, 6, 8, 9, 10]
    assert dahdicfg.parse_chanlist("1-15:1101,pseudo") == list(range(1, 16))
    assert dahdicfg.ranges([5, 1, 2, 3, 9, 10]) == "1-3,5,9-10"


def test_fxotune_modprobe_and_module_list():
    tune = dahdicfg.parse_fxotune((TREES / "fxo4-healthy/etc/fxotune.conf").read_text() + "junk\n")
    assert [t["channel"] for t in tune] == [1, 2, 3, 4] and tune[0]["acim"] == 5 and len(tune[0]["coefs"]) == 8
    opts = dahdicfg.parse_modprobe_options(
        "# x\noptions wctdm24xxp opermode=FCC \\\n  fxorxgain=-35\noptions dahdi-dummy debug\n", "/etc/modprobe.d/d.conf")
    assert opts[0] == {"file": "/etc/modprobe.d/d.conf", "line": 2, "module": "wctdm24xxp",
                       "options": {"opermode": "FCC", "fxorxgain": "-35"},
                       "text": "options wctdm24xxp opermode=FCC    fxorxgain=-35"}
    assert opts[1]["module"] == "dahdi_dummy" and opts[1]["options"] == {"debug": ""}
    assert dahdicfg.parse_module_list((TREES / "fxo4-healthy/etc/dahdi/modules").read_text()) == ["wctdm24xxp"]


# -- chan_dahdi.conf ---------------------------------------------------------

def tree_conf(tmp_path, name):
    root = build_tree(name, tmp_path / name)
    host = Host(str(root))
    read, lister = chandahdi.host_reader(host)
    return chandahdi.parse_chan_dahdi("/etc/asterisk/chan_dahdi.conf", read, lister)


def test_channels_take_the_values_in_force_at_their_channel_line(tmp_path):
    conf = tree_conf(tmp_path, "fxo4-gains-raised")
    assert conf["files"] == ["/etc/asterisk/chan_dahdi.conf", "/etc/asterisk/dahdi-channels.conf",
                             "/etc/asterisk/chan_dahdi_additional.conf"]
    assert [c["channel"] for c in conf["channels"]] == [1, 2, 3, 4]
    for c in conf["channels"]:
        assert c["file"] == "/etc/asterisk/dahdi-channels.conf"
        rx = c["values"]["rxgain"]
        assert (rx["value"], rx["file"], rx["line"], rx["section"]) == ("9.5", "/etc/asterisk/chan_dahdi.conf", 35, "channels")
        assert c["values"]["signalling"]["file"] == "/etc/asterisk/dahdi-channels.conf"
        assert c["values"]["context"]["value"] == "from-pstn"


def test_freepbx_extensions_get_their_own_block(tmp_path):
    conf = {c["channel"]: c for c in tree_conf(tmp_path, "tdm2400-24port")["channels"]}
    assert sorted(conf) == list(range(1, 25))
    add = "/etc/asterisk/chan_dahdi_additional.conf"
    assert conf[12]["values"]["rxgain"]["value"] == "-2.0" and conf[12]["values"]["rxgain"]["file"] == add
    assert conf[12]["values"]["txgain"]["value"] == "2.0"
    assert conf[13]["values"]["rxgain"]["value"] == "0.0" and conf[13]["values"]["rxgain"]["file"] == add
    assert conf[13]["values"]["signalling"]["value"] == "fxo_ks"
    assert conf[5]["values"]["rxgain"]["file"] == "/etc/asterisk/chan_dahdi.conf"
    assert conf[5]["values"]["signalling"]["value"] == "fxs_ks"


def parse_text(files: dict[str, str]):
    return chandahdi.parse_chan_dahdi("/etc/asterisk/chan_dahdi.conf", files.get,
                                      lambda d: [p.rsplit("/", 1)[1] for p in files if p.rsplit("/", 1)[0] == d])


def test_asterisk_config_syntax_and_chan_dahdi_sections():
    main = ("[general]\nrxgain=7\n[tmpl](!)\ntxgain=-1.5\n"
            "[channels]\nRXGAIN = 1.0 ; one\nchannel => 1\nrxgain=2.0\\;x\nchannel=2-3\n"
            ";-- block\nrxgain=99\n--;\nsignaling=fxs_ks\n#include \"extra/*.conf\"\n#tryinclude nothere.conf\n"
            "#include missing.conf\nchannel=>3\n"
            "[fxs](tmpl)\ndahdichan=10-11\nrxgain=3\n[ignored]\nrxgain=5\n")
    got = parse_text({"/etc/asterisk/chan_dahdi.conf": main,
                      "/etc/asterisk/extra/a.conf": "echocancel=no\nchannel=>4\n",
                      "/etc/asterisk/extra/b.txt": "channel=>9\n"})
    ch = {c["channel"]: c["values"] for c in got["channels"]}
    assert sorted(ch) == [1, 2, 3, 4, 10, 11]
    assert ch[1]["rxgain"]["value"] == "1.0" and ch[1]["rxgain"]["text"] == "RXGAIN = 1.0 ; one"
    assert ch[2]["rxgain"]["value"] == "2.0;x" and "signalling" not in ch[2]
    assert ch[4]["echocancel"]["file"] == "/etc/asterisk/extra/a.conf" and ch[4]["signalling"]["value"] == "fxs_ks"
    assert ch[10]["rxgain"]["value"] == "3" and ch[10]["txgain"]["value"] == "-1.5"
    assert ch[10]["echocancel"]["value"] == "no"  # [fxs] starts from the end of [channels]
    assert any("missing.conf" in e for e in got["errors"])
    assert not any("nothere" in e for e in got["errors"])
    assert any("channel 3 defined again" in e for e in got["errors"])


def test_include_loops_stop():
    got = parse_text({"/etc/asterisk/chan_dahdi.conf": "[channels]\n#include a.conf\nchannel=>1\n",
                      "/etc/asterisk/a.conf": "#include chan_dahdi.conf\nrxgain=1\n"})
    assert [c["channel"] for c in got["channels"]] == [1]
    assert any("include loop" in e for e in got["errors"])


# -- asterisk -rx "dahdi show channel N" ------------------------------------

def test_dahdi_show_channel_answer():
    live = astcli.parse_show_channel((ANSWERS / "fxo4-live-gain/channel-2.txt").read_text())
    assert live["channel"] == 2 and live["in_alarm"] is False and live["signalling"] == "FXS Kewlstart"
    assert live["sw_gain"] == {"rx": 4.5, "tx": 0.0} and live["hw_gain"] == {"rx": None, "tx": None}
    assert live["echo_cancel"] == {"taps": 128, "on": False, "unless_bridged": True, "params": {}}


def test_older_asterisk_and_error_answers():
    old = astcli.parse_show_channel("Channel: 3\nInAlarm: 1\nBusy Detection: yes\n    Busy Count: 4\n"
                                    "Gains (RX/TX): -3.50/2.00\nHW Gains (RX/TX): 1.5/Disabled\n"
                                    "Echo Cancellation:\n\tnone\nWait for dialtone: 0ms\n")
    assert old["in_alarm"] and old["busy_detection"] and old["busy_count"] == 4
    assert old["sw_gain"] == {"rx": -3.5, "tx": 2.0} and old["hw_gain"] == {"rx": 1.5, "tx": None}
    assert old["echo_cancel"]["taps"] == 0
    assert astcli.parse_show_channel("Unable to find given channel 9\n") == {"error": "Unable to find given channel 9"}
    assert astcli.not_running((ANSWERS / "not-running/not-running.txt").read_text())


# -- kernel log, lsmod, PCI --------------------------------------------------

def test_kernel_log_lsmod_and_pci(tmp_path):
    root = build_tree("fxo4-port2-no-battery", tmp_path / "t")
    log = kernel.filter_log((root / "var/log/kern.log").read_text().splitlines())
    assert log["battery"] == [{"span": 1, "port": 2, "battery": False,
                               "line": "Mar 10 15:22:41 cc-srv01 kernel: [ 4903.118220] wctdm24xxp 0000:03:00.0: NO BATTERY on 1/2!"}]
    assert not any("e1000e" in ln for ln in log["lines"]) and len(log["lines"]) == 7
    mods = kernel.parse_proc_modules((root / "proc/modules").read_text())
    assert [m["name"] for m in mods] == ["wctdm24xxp", "dahdi_echocan_mg2", "dahdi_voicebus", "dahdi"]
    assert mods[3]["used_by"] == ["wctdm24xxp", "dahdi_echocan_mg2", "dahdi_voicebus"]
    pci = kernel.pci_devices(Host(str(root)))
    assert pci["devices"] == [{"slot": "0000:03:00.0", "vendor": "0xd161", "vendor_name": "Digium",
                               "device": "0x8005", "driver": "wctdm24xxp"}]


# -- the judge on recorded facts --------------------------------------------

def test_one_port_without_battery_names_the_port_and_the_kernel_line():
    [f] = problems(facts("fxo4-port2-no-battery"))
    assert (f.subject, f.status, f.fault) == ("fxo:2", Status.FAIL, Fault.SITE)
    assert f.evidence["kernel_battery"].endswith("NO BATTERY on 1/2!")
    assert "port 2" in f.remedy and "/proc/dahdi/1" in f.remedy


def test_two_of_four_down_is_two_findings_and_all_down_is_one():
    two = facts("fxo4-healthy")
    for ch in two["proc"]["spans"][0]["channels"]:
        if ch["channel"] in (1, 3):
            ch["alarms"] = ["RED"]
    assert [f.subject for f in problems(two)] == ["fxo:1", "fxo:3"]
    [all_down] = problems(facts("fxo4-all-down"))
    assert all_down.subject == "fxo:1-4" and len(all_down.evidence["channels"]) == 4


def test_live_in_alarm_counts_as_no_battery():
    f = facts("fxo4-healthy-live")
    f["live"]["channels"][3]["in_alarm"] = True
    [finding] = problems(f)
    assert finding.subject == "fxo:4" and finding.evidence["live_in_alarm"] is True


def test_raised_gains_carry_file_key_and_line_for_drift():
    found = {f.subject: f for f in problems(facts("fxo4-gains-raised"))}
    assert set(found) == {"rxgain:1-4", "txgain:1-4"}
    rx = found["rxgain:1-4"]
    assert {k: rx.evidence[k] for k in ("file", "key", "line", "value", "channels")} == {
        "file": "/etc/asterisk/chan_dahdi.conf", "key": "rxgain", "line": 35, "value": 9.5,
        "channels": [1, 2, 3, 4]}
    assert 'for ch in 1 2 3 4; do asterisk -rx "dahdi set swgain rx $ch 0"; done' in rx.remedy
    assert 'asterisk -rx "dahdi restart"' in rx.remedy
    wide = section_config(CHECK, {"max_gain_db": 10})
    assert problems(facts("fxo4-gains-raised"), wide) == []


def test_live_gain_differing_from_the_file():
    [f] = problems(facts("fxo4-live-gain"))
    assert (f.subject, f.fault, f.evidence["live"], f.evidence["configured"]) == ("live-rxgain:2", Fault.SITE, 4.5, 0.0)
    assert "+4.5 dB live but 0.0 dB" in f.title and "dahdi set swgain rx 2 0" in f.remedy


def test_driver_gain_parameter_outside_limits():
    f = facts("fxo4-healthy")
    f["modules"]["parameters"]["wctdm24xxp"]["fxorxgain"] = "-95"
    f["modules"]["modprobe"].append({"file": "/etc/modprobe.d/dahdi.conf", "line": 3, "module": "wctdm24xxp",
                                     "options": {"fxorxgain": "-95"}, "text": "options wctdm24xxp fxorxgain=-95"})
    [finding] = problems(f)
    assert finding.subject == "wctdm24xxp.fxorxgain" and "-9.5 dB" in finding.title
    assert (finding.evidence["file"], finding.evidence["key"], finding.evidence["line"]) == (
        "/etc/modprobe.d/dahdi.conf", "fxorxgain", 3)
    f["modules"]["parameters"]["wctdm24xxp"]["fxsrxgain"] = "-95"  # no FXS port on this card
    assert [x.subject for x in problems(f)] == ["wctdm24xxp.fxorxgain"]


def test_echo_canceller_missing_configured_or_off():
    [f] = problems(facts("fxo4-no-ec-port3"))
    assert f.subject == "echo:3" and "echocanceller=mg2,3" in f.remedy
    assert (f.evidence["file"], f.evidence["key"]) == ("/etc/dahdi/system.conf", "echocanceller")
    stale = facts("fxo4-no-ec-port3")
    stale["system_conf"]["echocancellers"].append({"channel": 3, "name": "mg2", "file": "/etc/dahdi/system.conf",
                                                   "line": 14, "text": "echocanceller=mg2,3"})
    [f] = problems(stale)
    assert "dahdi_cfg" in f.detail and f.evidence["line"] == 14
    off = facts("fxo4-healthy")
    for c in off["chan_dahdi"]["channels"]:
        c["values"]["echocancel"] = {"value": "no", "file": "/etc/asterisk/chan_dahdi.conf", "line": 30,
                                     "text": "echocancel=no", "section": "channels"}
    [f] = problems(off)
    assert f.subject == "echocancel:1-4" and f.evidence["key"] == "echocancel" and f.evidence["line"] == 30


def test_span_alarms_in_plain_words():
    f = facts("t1-span1-red")
    [red] = problems(f)
    assert red.subject == "span:1" and "no signal" in red.title and red.evidence["kind"] == "T1"
    f["proc"]["spans"][0]["alarms"] = ["YELLOW"]
    [yellow] = problems(f)
    assert "far end does not receive us" in yellow.title and yellow.fault is Fault.SITE
    f["proc"]["spans"][0]["alarms"] = ["BLUE"]
    assert "carrier" in problems(f)[0].remedy


def test_card_missing_and_channels_missing():
    [f] = problems(facts("fxo4-no-card"))
    assert (f.subject, f.status, f.fault) == ("card", Status.FAIL, Fault.UNDETERMINED)
    assert f.evidence["lsmod"][0].startswith("wctdm24xxp") and f.evidence["pci"] == []
    assert "reseat" in f.remedy
    [g] = problems(facts("fxo4-driver-not-loaded"))
    assert "no driver is bound" in g.detail and "dkms" in g.remedy
    partial = facts("fxo4-healthy")
    partial["system_conf"]["channels"].append({"channel": 5, "key": "fxsks", "signalling": "FXSKS", "data": False,
                                               "file": "/etc/dahdi/system.conf", "line": 20, "text": "fxsks=5"})
    [p] = problems(partial)
    assert p.subject == "channels:5" and p.status is Status.WARN


def test_watches_follow_the_configured_paths():
    assert "/etc/asterisk/chan_dahdi.conf" in CHECK.watches and "/etc/modprobe.d/*.conf" in CHECK.watches
    got = CHECK.watched(section_config(CHECK, {"chan_dahdi_conf": "/opt/ast/etc/chan_dahdi.conf",
                                               "system_conf": "/opt/dahdi/system.conf"}))
    assert {"/opt/ast/etc/chan_dahdi.conf", "/opt/ast/etc/chan_dahdi_*.conf", "/opt/ast/etc/dahdi-channels.conf",
            "/opt/dahdi/system.conf", "/etc/fxotune.conf"} <= set(got)


@pytest.mark.parametrize("name", sorted(p.stem for p in HERE.glob("*.json")))
def test_every_recorded_scenario_says_where_it_comes_from(name):
    doc = json.loads((HERE / f"{name}.json").read_text())
    assert "recorded by tests/telephony_trees.py" in doc["description"]
