"""JSON report, exactly the schema of DESIGN.md section 3 (``diagnose.report/1``);
a site report as ``diagnose.site/1`` (section 9)."""

from __future__ import annotations

import json
from typing import Any


def render(report: Any, **_: Any) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_site(site: Any, **_: Any) -> str:
    return render(site)
