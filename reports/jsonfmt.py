"""JSON report, exactly the schema of DESIGN.md section 3 (``diagnose.report/1``);
a site report as ``diagnose.site/1`` (section 9)."""

from __future__ import annotations

import json
from typing import Any


def render(report: Any, **_: Any) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_site(site: Any, **_: Any) -> str:
    """``diagnose.site/1``: the envelope indented, every finding, seat row
    and seat report one compact line each (json's C encoder: a 2000-seat
    site's 15 MB in a fraction of a second instead of seconds)."""
    doc = site.to_dict()
    lists = {k: doc.pop(k) for k in ("findings", "seats", "reports")}
    head = json.dumps(doc, indent=2, ensure_ascii=False)

    def compact(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    parts = [head[:-2]]
    for key in ("findings", "seats"):
        items = ",\n".join("    " + compact(v) for v in lists[key])
        parts.append(f',\n  "{key}": [' + (f"\n{items}\n  ]" if items else "]"))
    items = ",\n".join(f"    {compact(k)}: {compact(v)}" for k, v in lists["reports"].items())
    parts.append(',\n  "reports": {' + (f"\n{items}\n  }}" if items else "}") + "\n}\n")
    return "".join(parts)
