"""The check interface every plugin implements.

A check is a class with metadata, a config schema for its own section, a
``probe`` that gathers JSON-serialisable facts through the host, and a pure
``judge`` that turns facts and config into findings. The runner, not the
check, decides whether it applies (``needs``) and isolates its failures.

Register a check under the entry-point group ``diagnose.checks``::

    [project.entry-points."diagnose.checks"]
    "disk.space" = "diagnose.checks.disk.check:DiskSpace"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diagnose.schema import COMMON_KEYS, Key, Needs  # noqa: F401  (the plugin API names them here)

if TYPE_CHECKING:
    from diagnose.host import Host
    from diagnose.model import Finding


class Check:
    """Base class of checks. Subclasses set the class attributes and
    implement :meth:`probe` and :meth:`judge`.

    ``section`` is the config section name (``disk``, ``database`` ...);
    ``multi`` marks array-of-tables sections (``[[database]]``), whose config
    arrives as a list of dicts under the key ``items``.
    """

    name: str = ""
    summary: str = ""
    section: str = ""
    multi: bool = False
    needs: Needs = Needs()
    schema: dict[str, Key] = {}
    # Seconds; the runner's --timeout or the section's timeout_s override it.
    timeout: float = 10.0
    # Configuration files this check depends on, as paths or globs on the
    # inspected host (read through the host seam, so --root works). The
    # acceptance baseline snapshots them and config.drift reports changes.
    watches: tuple[str, ...] = ()
    # Dotted paths into this check's facts whose value should not change after
    # acceptance (the default audio device, a gateway's firmware, link speed):
    # config.drift compares them with the baseline's facts. "*" matches one
    # level of a dict or every item of a list, e.g. "gateways.*.user_agent".
    stable: tuple[str, ...] = ()
    # Sections owned (and validated) by other checks that this one only looks
    # at; they arrive under cfg["_borrowed"][section] when the file has them:
    # disk.space borrows [[service]] and [[database]] to know which files are
    # the application's own.
    borrows: tuple[str, ...] = ()
    # Engine-side checks that look at the whole run (config.drift) set this:
    # the cfg their applies() and probe() receive then also holds "_run"
    # ({"registry", "config", "role"}), and finish() sees the other checks'
    # facts once every probe is done.
    run_context: bool = False
    # Other config sections this check reads besides its own, with their
    # schemas (e.g. call.routing owns [asterisk] and reads [queues]). The
    # probe and judge get each as ``cfg[name]``, a dict with defaults filled
    # in, beside the own section's keys.
    reads: dict[str, dict[str, Key]] = {}

    def watched(self, cfg: dict[str, Any]) -> list[str]:
        """The files to watch with this config (override when the config
        decides where they are, e.g. ``[asterisk] config_dir``)."""
        return list(self.watches)

    def history_numbers(self, finding: "Finding") -> dict[str, Any]:
        """The few numbers of *finding* worth keeping in the run history
        (free bytes, loss, RTT, RSSI, KPI figures). Default: the numeric
        top-level evidence values, at most 16. Override to keep others."""
        out: dict[str, Any] = {}
        for key, value in finding.evidence.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = value
                if len(out) == 16:
                    break
        return out

    def history_window(self, cfg: dict[str, Any]) -> tuple[float, int]:
        """How much of its own recorded numbers this check's probe wants:
        the samples of the last *days* and at least the last *runs* runs.
        The runner passes them to ``probe`` as ``cfg["_history"]``
        (``{subject: [{"t": epoch, **numbers}, ...]}``, oldest first); a
        probe that uses them copies them into its facts, so a judge that
        reads them stays pure and ``--from-facts`` judges the same.
        (0, 0), the default: none."""
        return (0.0, 0)

    def applies(self, host: "Host", cfg: dict[str, Any]) -> str | None:
        """Extra applicability test beyond ``needs``: return a skip reason
        (saying what to install or set) or None when the check applies."""
        return None

    def probe(self, host: "Host", cfg: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def judge(self, facts: dict[str, Any], cfg: dict[str, Any]) -> list["Finding"]:
        raise NotImplementedError

    def finish(self, facts: dict[str, Any], others: dict[str, dict[str, Any]],
               cfg: dict[str, Any]) -> dict[str, Any]:
        """With ``run_context``: amend this check's *facts* from the facts of
        the *others* that ran (still gathering, never judging)."""
        return facts

    def init_section(self, host: "Host") -> str | None:
        """A commented TOML snippet for ``diagnose init`` from what is detected
        here, or None to write the defaults commented out."""
        return None


def section_config(check: Check, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config dict a probe or judge of *check* receives, validated and
    with defaults filled in, from plain *values* (as the TOML section would
    hold them; for a multi section, ``{"items": [ {...}, ... ]}``).

    Tests and ``--from-facts`` use it to build exactly what the runner passes.
    """
    from diagnose.config import load_section

    return load_section(check, values or {})
