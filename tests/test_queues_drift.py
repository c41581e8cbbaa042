"""The story end to end: at acceptance queue support rang all agents
(ringall); later a local user switched it to linear while agents 201-204
were away. config.drift is the root cause (who, when, the accepted value),
call.routing's absent-agents finding nests under it, and queue.kpi's missed
targets under that. The real CLI on a recorded tree; state in tmp."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.queue_sim import Day, freepbx_tree, support_queue
from tests.rigs import baseline as rig

QUEUES_FILE = "/etc/asterisk/queues_additional.conf"


def test_a_local_change_to_linear_is_the_root_cause_of_the_queue_faults(tmp_path):
    root = rig.make_tree(tmp_path / "tree")
    freepbx_tree(root, "ringall")
    cfg = rig.config(tmp_path, root)
    env = {"DIAGNOSE_STATE_DIR": str(tmp_path / "state")}

    def cli(*args):
        return run_cli(*args, "--config", str(cfg), "--root", str(root), env=env)

    rec = cli("baseline", "record", "--by", "integrator", "--note", "acceptance: ringall")
    assert rec.returncode == 0, rec.stderr
    rig.backdate(tmp_path / "state", 3600)

    changed = rig.edit(root / "etc/asterisk/queues_additional.conf", "strategy=ringall", "strategy=linear")
    rig.write_wtmp(root, [("ivan", "pts/0", changed - 900, None)])
    rig.append(root / "var/log/auth.log",
               rig.sudo_line(changed - 30, "ivan", "/usr/bin/nano queues_additional.conf", pwd="/etc/asterisk"))
    day = Day([support_queue("linear", absent=("201", "202", "203", "204"))], 1763683200).run()
    (root / "var/log/asterisk").mkdir(parents=True, exist_ok=True)
    (root / "var/log/asterisk/queue_log").write_text(day.text())

    out = cli("run", "--only", "config.drift", "--only", "call.routing", "--only", "queue.kpi",
              "--format", "json")
    assert out.returncode == 2, out.stderr
    report = json.loads(out.stdout)
    found = {f["id"]: f for f in report["findings"]}
    drift = found[f"config.drift:{QUEUES_FILE}"]
    route = found["call.routing:support"]
    kpi = found["queue.kpi:support"]

    assert drift["caused_by"] == [] and drift["fault"] == "site"
    assert drift["evidence"]["changes"] == [{"section": "support", "key": "strategy", "baseline": "ringall",
                                             "current": "linear"}]
    assert drift["evidence"]["changed_by"]["actor"] == "ivan"
    assert "[support] strategy = ringall (now linear)" in drift["remedy"]

    assert route["caused_by"] == [drift["id"]] and route["fault"] == "site"
    assert route["title"].startswith("Calls ring 4 absent agents first (201, 202, 203, 204)")
    assert kpi["caused_by"] == [route["id"]] and kpi["fault"] == "site"
    assert drift["consequences"] == [route["id"]] and route["consequences"] == [kpi["id"]]

    assert report["verdict"]["site_faults"] == 1
    assert report["findings"][0]["id"] == drift["id"]
