"""JSON report, exactly the schema of DESIGN.md section 3 (``diagnose.report/1``);
a site report as ``diagnose.site/1`` (section 9)."""

from __future__ import annotations

import json
from typing import Any


def render(report: Any, **_: Any) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_site(site: Any, **_: Any) -> str:
    """``diagnose.site/1``: indented like a run report, except every seat's
    own report, which is one compact line (json's C encoder: a 2000-seat
    site's 15 MB of reports in well under a second instead of seconds)."""
    doc = site.to_dict()
    reports = doc.pop("reports")
    head = json.dumps(doc, indent=2, ensure_ascii=False)
    if not reports:
        return head[:-2] + ',\n  "reports": {}\n}\n'
    body = ",\n".join(f"    {json.dumps(name, ensure_ascii=False)}: "
                      f"{json.dumps(r, ensure_ascii=False, separators=(',', ':'))}" for name, r in reports.items())
    return head[:-2] + ',\n  "reports": {\n' + body + "\n  }\n}\n"
