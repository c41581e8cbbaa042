"""diagnose: installation health checks for call-center sites.

The engine lives here (model, host seam, registry, runner, attribution, config,
CLI); the built-in checks are ``diagnose.checks`` and the renderers
``diagnose.reports``. Nothing heavy is imported at package import time so
that ``diagnose --version`` stays a cold-start of a few tens of milliseconds.
"""

import os as _os

__version__ = "0.1.0"

# In the repository the checks and renderers sit beside this folder (checks/,
# reports/) and pyproject.toml maps them into this package when it is
# installed. Run from a checkout, make the same names resolve there.
_here = _os.path.dirname(_os.path.abspath(__file__))
_top = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "checks")) and _os.path.isfile(_os.path.join(_top, "checks", "__init__.py")):
    __path__.append(_top)  # type: ignore[name-defined]  # noqa: F821
