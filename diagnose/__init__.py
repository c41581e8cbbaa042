"""diagnose: installation health checks for call-center sites.

The engine lives here (model, host seam, registry, runner, attribution, config,
CLI); the built-in checks live in the top-level ``checks`` package and the
renderers in ``reports``. Nothing heavy is imported at package import time so
that ``diagnose --version`` stays a cold-start of a few tens of milliseconds.
"""

__version__ = "0.1.0"
