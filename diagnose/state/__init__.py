"""What diagnose keeps between runs, in the state directory (DESIGN.md section 9):
the acceptance baseline and the run history.

The state directory is ``[site] state_dir`` (default ``/var/lib/diagnose``),
overridden by ``$DIAGNOSE_STATE_DIR``.
"""
