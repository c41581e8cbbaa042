"""The built-in checks, one package per area (installed as ``diagnose.checks``).

Each package holds its check in ``check.py`` (the ``Check`` subclass: schema,
probe, judge) and the helpers only that area uses beside it: parsers of system
output, protocol code, tables. The registry (:mod:`diagnose.registry`) names
every built-in check in a static table, so a run imports only the checks it runs.
"""
