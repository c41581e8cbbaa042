"""application.services: how long the check takes, side by side with what a
technician would otherwise type (ps for the process, ss for its ports, tail
for its log), against a real running server from the test rig.

    python3 bench/bench_services.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import diagnose_exe, row, time_cmd, time_fn, time_pair  # noqa: E402
from diagnose.checks.services.check import ApplicationServices  # noqa: E402
from diagnose.check import section_config  # noqa: E402
from diagnose.host import Host  # noqa: E402
from tests.rigs.services import ServicesRig, free_port  # noqa: E402


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="dgsvc-bench-"))
    rig = ServicesRig(work)
    try:
        port = free_port()
        rig.start("serve", port)
        item = {"name": "callcenter", "process": rig.name, "ports": [port], "log": str(rig.log)}
        conf = rig.base / "site.toml"
        conf.write_text('[site]\nrole = "server"\n\n[[service]]\n'
                        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in item.items()))
        check = ApplicationServices()
        cfg = section_config(check, {"items": [item]})
        host = Host("/")
        manual = ["sh", "-c", f"ps -C {rig.name} -o pid,stat,rss,lstart,cmd; ss -ltnup; "
                              f"tail -n 50 {rig.log}; dmesg | grep -i 'killed process'"]
        theirs = time_cmd(manual)
        row("probe + judge, one service (in process)",
            time_fn(lambda: check.judge(check.probe(host, cfg), cfg), runs=11), theirs, "ps+ss+tail+dmesg")
        ours, theirs = time_pair([diagnose_exe(), "run", "--config", str(conf), "--only",
                                  "application.services", "--format", "json"], manual)
        row("diagnose run --only application.services", ours, theirs, "ps+ss+tail+dmesg")
    finally:
        rig.cleanup()
        shutil.rmtree(work, ignore_errors=True)  # the rig's cleanup stops processes only
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
