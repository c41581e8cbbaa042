"""Recorded DAHDI trees for telephony.card (tests/data/telephony.card/), the
stand-in ``asterisk`` that prints recorded ``dahdi show channel`` answers,
and the scenario table from which the recorded facts
(tests/data/telephony.card/<scenario>.json) are made.

A tree folder with a ``_base`` file is an overlay: the base tree is copied
first, then the overlay's files, then the paths listed in ``_remove`` are
deleted. Regenerate the facts after changing a tree or a parser with

    python3 -m tests.telephony_trees
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from diagnose.check import section_config
from diagnose.host import Host, NotLive, RunResult
from tests.conftest import DATA

HERE = DATA / "telephony.card"
TREES = HERE / "trees"
ANSWERS = HERE / "asterisk"


def build_tree(name: str, dest: Path) -> Path:
    """Materialise tree *name* (resolving overlays) at *dest*."""
    src = TREES / name
    base = src / "_base"
    if base.exists():
        build_tree(base.read_text().strip(), dest)
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if rel.parts[0] in ("_base", "_remove"):
            continue
        target = dest / rel
        if path.is_symlink():
            if target.is_symlink() or target.exists():
                target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(path), target)
        elif path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    remove = src / "_remove"
    if remove.exists():
        for rel in remove.read_text().split():
            target = dest / rel
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.is_dir():
                shutil.rmtree(target)
    return dest


FAKE_ASTERISK = """#!/bin/sh
# Stands in for `asterisk -rx "dahdi show channel N"`: prints the answer
# recorded in {dir} (see tests/data/telephony.card/README.md).
dir='{dir}'
if [ -f "$dir/not-running.txt" ]; then cat "$dir/not-running.txt"; exit 1; fi
case "$2" in
  "dahdi show channel "*)
    n=${{2##* }}
    if [ -f "$dir/channel-$n.txt" ]; then cat "$dir/channel-$n.txt"; else echo "Unable to find given channel $n"; fi ;;
  *) echo "No such command '$2' (type 'core show help ${{2%% *}}' for other possible commands)" ;;
esac
"""


def fake_asterisk(bin_dir: Path, answers: str) -> Path:
    """An ``asterisk`` in *bin_dir* answering from tests/data/telephony.card/asterisk/<answers>."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "asterisk"
    exe.write_text(FAKE_ASTERISK.format(dir=ANSWERS / answers))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


class TreeWithAsterisk(Host):
    """A recorded tree (as ``--root`` reads it) on a machine whose Asterisk
    is *asterisk*: the one command that runs; everything else needs the live
    machine exactly as for a plain recorded tree."""

    def __init__(self, root: str, asterisk: Path) -> None:
        super().__init__(root)
        self.asterisk = str(asterisk)

    def which(self, cmd: str) -> str | None:
        return self.asterisk if cmd == "asterisk" else super().which(cmd)

    def run(self, argv: list[str], timeout: float = 5.0, env: dict[str, str] | None = None,
            input: str | None = None) -> RunResult:
        if argv[0] != "asterisk":
            raise NotLive(f"running {argv[0]} needs the live machine; host root is {self.root}")
        return Host("/").run([self.asterisk, *argv[1:]], timeout=timeout, env=env, input=input)


# scenario -> (tree, recorded asterisk answers or None, description, expectations)
SCENARIOS: dict[str, dict[str, Any]] = {
    "fxo4-healthy": {
        "tree": "fxo4-healthy", "answers": None,
        "description": "Digium TDM410P, 4 FXO ports to the office PBX, all with battery, mg2 echo "
                       "canceller, gains 0.0; read from a recorded tree (no Asterisk to ask)",
        "expect": [{"subject": "card", "status": "ok", "title_contains": "4 FXO lines up"}]},
    "fxo4-healthy-live": {
        "tree": "fxo4-healthy", "answers": "fxo4-idle",
        "description": "The healthy TDM410P with Asterisk answering `dahdi show channel` for each port",
        "expect": [{"subject": "card", "status": "ok"}]},
    "fxo4-asterisk-down": {
        "tree": "fxo4-healthy", "answers": "not-running",
        "description": "The healthy TDM410P while Asterisk is not running (remote console refused)",
        "expect": [{"subject": "card", "status": "ok"}]},
    "fxo4-port2-no-battery": {
        "tree": "fxo4-port2-no-battery", "answers": None,
        "description": "Port 2 lost battery: RED on channel 2 in /proc/dahdi/1, NO BATTERY in the kernel log",
        "expect": [{"subject": "fxo:2", "status": "fail", "fault": "site",
                    "title_contains": "FXO line 2 to the office PBX has no battery"}]},
    "fxo4-all-down": {
        "tree": "fxo4-all-down", "answers": None,
        "description": "Every FXO port in RED alarm at once: the PBX side is off or unplugged",
        "expect": [{"subject": "fxo:1-4", "status": "fail", "fault": "site",
                    "title_contains": "All 4 FXO lines"}]},
    "fxo4-gains-raised": {
        "tree": "fxo4-gains-raised", "answers": None,
        "description": "rxgain and txgain raised to 9.5 in [channels] of chan_dahdi.conf, before the "
                       "#include that defines channels 1-4",
        "expect": [{"subject": "rxgain:1-4", "status": "warn", "fault": "undetermined",
                    "title_contains": "+9.5 dB on channels 1-4: speech will clip"},
                   {"subject": "txgain:1-4", "status": "warn"}]},
    "fxo4-live-gain": {
        "tree": "fxo4-healthy", "answers": "fxo4-live-gain",
        "description": "Receive gain of channel 2 set to 4.5 dB at the Asterisk console (dahdi set "
                       "swgain); every file still says 0.0",
        "expect": [{"subject": "live-rxgain:2", "status": "warn", "fault": "site",
                    "title_contains": "changed at the Asterisk console"}]},
    "fxo4-no-ec-port3": {
        "tree": "fxo4-no-ec-port3", "answers": None,
        "description": "No echocanceller= line for channel 3 in system.conf; /proc shows no EC on it",
        "expect": [{"subject": "echo:3", "status": "warn", "title_contains": "No echo canceller on channel 3"}]},
    "t1-span1-red": {
        "tree": "t1-span1-red", "answers": None,
        "description": "Digium TE205P, two T1 PRI spans; span 1 in RED alarm (cable out), span 2 up",
        "expect": [{"subject": "span:1", "status": "fail", "fault": "site",
                    "title_contains": "T1 span 1 (TE2/0/1) is in red alarm"}]},
    "fxo4-no-card": {
        "tree": "fxo4-no-card", "answers": None,
        "description": "Configuration for the TDM410P, drivers loaded, no card on the PCI bus, "
                       "/proc/dahdi empty",
        "expect": [{"subject": "card", "status": "fail", "fault": "undetermined",
                    "title_contains": "not detected"}]},
    "fxo4-driver-not-loaded": {
        "tree": "fxo4-driver-not-loaded", "answers": None,
        "description": "The TDM410P is on the PCI bus but wctdm24xxp failed to load (symbol "
                       "version mismatch after a kernel update)",
        "expect": [{"subject": "card", "status": "fail", "fault": "undetermined"}]},
    "tdm2400-24port": {
        "tree": "tdm2400-24port", "answers": None,
        "description": "Digium TDM2400P: 8 FXO ports (dahdi-channels.conf) and 16 FXS ports as "
                       "FreePBX extensions (chan_dahdi_additional.conf), healthy",
        "expect": [{"subject": "card", "status": "ok", "title_contains": "8 FXO lines up"}]},
    "hostile-strings": {
        "tree": "hostile-strings", "answers": None,
        "description": "Raised rxgain whose config line carries a script tag, port 2 down on a card "
                       "whose description carries an img tag",
        "expect": [{"subject": "rxgain:1-4", "status": "warn"}, {"subject": "fxo:2", "status": "fail"}]},
}


def probe_scenario(name: str, workdir: Path) -> dict[str, Any]:
    """The facts the probe gathers for scenario *name* (JSON round-tripped)."""
    from diagnose.checks.telephony.check import TelephonyCard

    sc = SCENARIOS[name]
    root = build_tree(sc["tree"], workdir / "root")
    check = TelephonyCard()
    host = (TreeWithAsterisk(str(root), fake_asterisk(workdir / "bin", sc["answers"]))
            if sc["answers"] else Host(str(root)))
    facts = check.probe(host, section_config(check, {}))
    return json.loads(json.dumps(facts))


def record_all() -> None:
    import tempfile

    for name, sc in SCENARIOS.items():
        with tempfile.TemporaryDirectory(prefix="dg-tel-") as tmp:
            facts = probe_scenario(name, Path(tmp))
        doc = {"description": sc["description"] + " (recorded by tests/telephony_trees.py from "
                                                  f"trees/{sc['tree']}"
                              + (f" and asterisk/{sc['answers']}" if sc["answers"] else "") + ")",
               "config": {}, "facts": facts, "expect": sc["expect"]}
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {name}.json")


if __name__ == "__main__":
    record_all()
