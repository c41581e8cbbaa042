"""telephony.card: the DAHDI telephony card's lines, gains and echo canceller.

Settles two complaints: "calls to the office PBX stop" (an FXO line without
battery, a T1/E1 span in alarm, a card that is not detected) and "sound
crackles and hisses" (gains raised in chan_dahdi.conf or at the Asterisk
console, no echo canceller). See docs/checks/telephony.card.md.
"""

from __future__ import annotations

import posixpath
from typing import Any

from diagnose.check import Check, Key, Needs
from diagnose.i18n import N_, _

# The gain limits, in dB, applied to every configured and live gain: G.711
# saturates at +3 dBm0 and speech at the nominal -20 dBm0 peaks 12-15 dB
# higher, so above +6 dB loud speech clips; below -6 dB it sounds faint.
# chan_dahdi and dahdi_genconf default every gain to 0.0.
MIN_GAIN_DB = -6.0
MAX_GAIN_DB = 6.0


class TelephonyCard(Check):
    name = "telephony.card"
    summary = N_("DAHDI telephony card: FXO line battery, T1/E1 alarms, gains, echo canceller")
    section = "telephony"
    needs = Needs(role="server")
    timeout = 10.0
    schema = {
        "proc_dir": Key(str, "/proc/dahdi", "where DAHDI shows its spans (one file per span)"),
        "system_conf": Key(str, "/etc/dahdi/system.conf", "dahdi_cfg's configuration: signalling "
                           "and echo cancellers per channel"),
        "chan_dahdi_conf": Key(str, "/etc/asterisk/chan_dahdi.conf", "Asterisk's DAHDI channel "
                               "configuration; #include'd files are read from its folder"),
        "min_gain_db": Key((int, float), MIN_GAIN_DB, "a gain below this (dB) makes speech faint "
                           "(default -6: 6 dB under the nominal speech level)", low=-30, high=30),
        "max_gain_db": Key((int, float), MAX_GAIN_DB, "a gain above this (dB) makes speech clip "
                           "(default +6: G.711's headroom over speech peaks)", low=-30, high=30),
    }
    watches = (
        "/etc/dahdi/system.conf", "/etc/dahdi/modules", "/etc/asterisk/chan_dahdi.conf",
        "/etc/asterisk/chan_dahdi_*.conf", "/etc/asterisk/dahdi-channels.conf", "/etc/fxotune.conf",
        "/etc/modprobe.d/*.conf",
    )
    # The card itself: a different model or span layout after acceptance is a change.
    stable = ("proc.spans.*.name", "proc.spans.*.description")

    def watched(self, cfg: dict[str, Any]) -> list[str]:
        conf_dir = posixpath.dirname(cfg.get("chan_dahdi_conf") or "/etc/asterisk/chan_dahdi.conf")
        out = [cfg.get("system_conf") or "/etc/dahdi/system.conf", "/etc/dahdi/modules",
               cfg.get("chan_dahdi_conf") or "/etc/asterisk/chan_dahdi.conf",
               f"{conf_dir}/chan_dahdi_*.conf", f"{conf_dir}/dahdi-channels.conf",
               "/etc/fxotune.conf", "/etc/modprobe.d/*.conf"]
        return list(dict.fromkeys(out))

    def applies(self, host: Any, cfg: dict[str, Any]) -> str | None:
        if host.exists(cfg["proc_dir"]) or host.exists(cfg["system_conf"]):
            return None
        return _("no DAHDI here: neither {proc_dir} nor {system_conf} exists (set [telephony] "
                 "proc_dir and system_conf if they are elsewhere)", proc_dir=cfg["proc_dir"],
                 system_conf=cfg["system_conf"])

    def probe(self, host: Any, cfg: dict[str, Any]) -> dict[str, Any]:
        from diagnose.checks.telephony.probe import collect

        return collect(host, cfg)

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list:
        from diagnose.checks.telephony.judge import judge

        return judge(facts, cfg)
