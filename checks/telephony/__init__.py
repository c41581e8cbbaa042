"""telephony.card: the DAHDI telephony card's lines, gains and echo canceller.

``check.py`` is the check (schema, applicability, probe and judge entry
points); ``probe.py`` gathers the facts through the host seam; the parsers
of each recorded format sit beside it (``procfs.py`` for /proc/dahdi and
dahdi_scan, ``dahdicfg.py`` for system.conf, fxotune.conf and modprobe
options, ``chandahdi.py`` for chan_dahdi.conf and its includes,
``astcli.py`` for ``dahdi show channel``, ``kernel.py`` for the kernel log,
lsmod and the PCI bus); ``judge.py`` and ``gains.py`` turn facts into
findings.
"""
