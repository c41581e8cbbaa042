"""Renderers: each turns the one report model into one format.

Renderers only render :class:`diagnose.model.Report`; they never look at
facts, config or the system. Each lives in its own module, imported only
when its format is asked for (jinja2 is paid for by ``--format html`` alone).
"""

from __future__ import annotations

import importlib
from typing import Any

FORMATS = ("text", "json", "html", "junit", "nagios", "prometheus")
# Relative to this package: installed, it is diagnose.reports (no top-level "reports").
_MODULES = {"text": ".text", "json": ".jsonfmt", "html": ".html",
            "junit": ".junit", "nagios": ".nagios", "prometheus": ".prometheus"}


def render(report: Any, fmt: str, **options: Any) -> str:
    """Render *report* as *fmt*; options are format-specific (text: colour, verbose, quiet).

    A site report (``diagnose.site/1``, it has ``seats``) goes to the same
    module's ``render_site``, which reuses that module's pieces."""
    if fmt not in _MODULES:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    module = importlib.import_module(_MODULES[fmt], __name__)
    if hasattr(report, "seats"):
        return module.render_site(report, **options)
    return module.render(report, **options)
