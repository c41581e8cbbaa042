"""Who changed a file: every witness this host has, and what each one said.

Witnesses, strongest first:

- the Linux audit log (``ausearch -f PATH --raw`` on the live machine, else
  /var/log/audit/audit.log): the login uid (auid) of the process that wrote it;
- etckeeper: the author of the commit in /etc/.git that changed it;
- sudo lines naming the file (auth.log, secure, or the journal);
- a package operation at the file's ctime for a file that package owns
  (dpkg.log, apt's history.log with Requested-By, dnf/yum logs);
- shell and Asterisk CLI histories of the accounts that name the file;
- login sessions open at the file's ctime (wtmp ``struct utmp`` records,
  Debian 13's wtmpdb SQLite file; logouts and reboots close them).

The answer is ``{actor, kind, confidence, sources}``: kind ``local`` (a site
account), ``installer`` (``[baseline] installer_accounts`` or whoever
recorded the baseline), ``package``/``vendor`` (a package operation; vendor
when the package matches ``[baseline] vendor_packages``) or ``unknown``;
confidence ``high`` (audit, etckeeper, sudo naming the file, a package
owning it), ``medium`` (one session open then, or a timed history line),
``low`` (several sessions, an untimed history line, or nothing). ``sources``
lists every witness looked at, found or not, and what was missing.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import re
from typing import Any

from diagnose.i18n import N_
from diagnose.state import logsources as L

WINDOW_AFTER = 5.0       # a witness may log a little after the write it caused
PACKAGE_WINDOW = 600.0   # dpkg unpacks, then configures: minutes apart at most
# Asterisk CLI commands that go with a file (its history has no times).
ASTERISK_WORDS = {"chan_dahdi.conf": ("dahdi", "chan_dahdi"), "queues.conf": ("queue",),
                  "extensions.conf": ("dialplan", "extensions"), "sip.conf": ("sip ",),
                  "pjsip.conf": ("pjsip",), "system.conf": ("dahdi",), "iax.conf": ("iax2",)}
HISTORY_FILES = (".bash_history", ".zsh_history", ".history", ".asterisk_history")
_PW = re.compile(r"(?i)(-p|--password[= ]|password=|passwd=|secret=)\S+")


def clean(text: str) -> str:
    """A command line with passwords on it masked (``mysql -pX``, ``secret=X``, URLs)."""
    from diagnose.config import redact

    return redact(_PW.sub(lambda m: m.group(1) + "***", text))


def when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(microsecond=0).isoformat()



def said(key: str, template: str, **fields: Any) -> dict[str, Any]:
    """A witness's words as facts: ``key`` in English (what the JSON and
    older readers show) and ``key_said``, the template and its fields, so
    that the report can say it in the reader's language."""
    fields = {k: "" if v is None else str(v) for k, v in fields.items()}
    return {key: template.format(**fields), f"{key}_said": [template, fields]}

class Witnesses:
    """Reads each witness once per run; :meth:`explain` asks them about one file."""

    def __init__(self, host: Any, since: float, recorded_by: str = "",
                 installer_accounts: list[str] | None = None,
                 vendor_packages: list[str] | None = None) -> None:
        self.host = host
        self.since = since
        self.installers = set(installer_accounts or []) | ({recorded_by} if recorded_by else set())
        self.vendor = list(vendor_packages or [])
        self._cache: dict[str, Any] = {}
        self._users: dict[int, str] | None = None

    # -- reading -----------------------------------------------------------------
    def _lines(self, path: str, max_bytes: int = 8 * 1024 * 1024) -> list[str] | None:
        try:
            return self.host.tail(path, max_bytes)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            return None

    def _year(self, path: str) -> int:
        try:
            return dt.datetime.fromtimestamp(self.host.stat(path).st_mtime).year
        except OSError:
            return dt.datetime.now().year

    def users(self) -> dict[int, str]:
        if self._users is None:
            from diagnose.state.snapshot import accounts

            self._users = accounts(self.host)[0]
        return self._users

    def _once(self, key: str, fn: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def audit(self) -> tuple[list[dict], str | None, str]:
        """(events, where, state): state ``ok`` or why there is no audit log."""
        def load() -> tuple[list[dict], str | None, str]:
            log = "/var/log/audit/audit.log"
            lines = self._lines(log, 32 * 1024 * 1024)
            if lines is None:
                return [], None, "auditd is not running here (no /var/log/audit/audit.log)"
            return L.parse_audit(lines), log, "ok"
        return self._once("audit", load)

    def sudo(self) -> tuple[list[dict], list[str]]:
        def load() -> tuple[list[dict], list[str]]:
            entries, where = [], []
            for log in ("/var/log/auth.log.1", "/var/log/auth.log", "/var/log/secure.1", "/var/log/secure"):
                lines = self._lines(log)
                if lines is not None:
                    where.append(log)
                    entries += L.parse_sudo(lines, self._year(log))
            if not where and self.host.live and self.host.which("journalctl"):
                res = self.host.run(["journalctl", "-q", "--no-pager", "-o", "short-iso",
                                     "SYSLOG_IDENTIFIER=sudo", f"--since=@{int(self.since)}"], timeout=10)
                if res.ok:
                    where.append("the journal (journalctl SYSLOG_IDENTIFIER=sudo)")
                    entries += L.parse_sudo(res.stdout.splitlines(), dt.datetime.now().year)
            return entries, where
        return self._once("sudo", load)

    def sessions(self) -> tuple[list[dict], list[str]]:
        def load() -> tuple[list[dict], list[str]]:
            out, where = [], []
            for log in ("/var/log/wtmp.1", "/var/log/wtmp"):
                try:
                    data = self.host.read_bytes(log)
                except OSError:
                    continue
                where.append(log)
                out += L.sessions_from_utmp(L.parse_utmp(data))
            db = "/var/lib/wtmpdb/wtmp.db"
            if self.host.exists(db):
                try:
                    out += L.sessions_from_wtmpdb(self.host.path(db))
                    where.append(db)
                except Exception:  # noqa: BLE001 - a damaged database is one missing witness
                    pass
            return out, where
        return self._once("sessions", load)

    def packages(self) -> tuple[list[dict], list[dict], list[str]]:
        def load() -> tuple[list[dict], list[dict], list[str]]:
            ops, apt, where = [], [], []
            for log in ("/var/log/dpkg.log.1", "/var/log/dpkg.log"):
                lines = self._lines(log)
                if lines is not None:
                    where.append(log)
                    ops += L.parse_dpkg_log(lines)
            for log in ("/var/log/dnf.rpm.log", "/var/log/yum.log"):
                lines = self._lines(log)
                if lines is not None:
                    where.append(log)
                    ops += L.parse_dnf_log(lines, self._year(log))
            text = self.host.read_text("/var/log/apt/history.log", missing=None)
            if text is not None:
                where.append("/var/log/apt/history.log")
                apt = L.parse_apt_history(text)
            return ops, apt, where
        return self._once("packages", load)

    def histories(self) -> list[tuple[str, str, list]]:
        def load() -> list[tuple[str, str, list]]:
            out = []
            homes: dict[str, str] = {}
            for line in self.host.read_text("/etc/passwd", missing="").splitlines():
                p = line.split(":")
                if len(p) >= 6 and p[2].isdigit() and (int(p[2]) == 0 or int(p[2]) >= 1000 or p[0] == "asterisk"):
                    homes.setdefault(p[0], p[5])
            homes.setdefault("root", "/root")
            for user, home in sorted(homes.items()):
                for name in HISTORY_FILES:
                    f = f"{home.rstrip('/')}/{name}"
                    text = self.host.read_text(f, missing=None)
                    if text is not None:
                        out.append((user, f, L.parse_history(text)))
            return out
        return self._once("histories", load)

    def etckeeper(self, path: str) -> dict[str, Any] | None:
        """The last etckeeper commit after the baseline that changed *path*;
        ``{"state": ...}`` says why there is none. None: not under /etc."""
        if not path.startswith("/etc/"):
            return None
        if not (self.host.exists("/etc/.etckeeper") and self.host.is_dir("/etc/.git")):
            return {"state": "absent"}
        rel = os.path.relpath(path, "/etc")
        git = ["git", "-c", "safe.directory=*", "-C", self.host.path("/etc")]
        res = self.host.run_on_files(git + ["log", "-n", "1", f"--since=@{int(self.since)}",
                                            "--format=%H%x1f%an%x1f%ae%x1f%at%x1f%s", "--", rel], timeout=10)
        if res.missing:
            return {"state": "no-git"}
        dirty = self.host.run_on_files(git + ["status", "--porcelain", "--", rel], timeout=10)
        if dirty.stdout.strip():
            # The file as it is now is in no commit yet: whoever committed
            # last did not make this change.
            return {"state": "uncommitted"}
        if not res.ok or not res.stdout.strip():
            return {"state": "no-commit"}
        h, author, email, at, subject = (res.stdout.strip().split("\x1f") + [""] * 5)[:5]
        return {"state": "found", "commit": h[:12], "author": author, "email": email,
                "time": float(at or 0), "subject": subject}

    # -- judging one file ----------------------------------------------------------
    def kind_of(self, actor: str | None) -> str:
        if not actor:
            return "unknown"
        return "installer" if actor in self.installers else "local"

    def package_kind(self, package: str) -> str:
        return "vendor" if any(fnmatch.fnmatch(package, p) for p in self.vendor) else "package"

    def explain(self, path: str, ctime: float, owner_package: str | None = None) -> dict[str, Any]:
        """Who changed *path*, last changed (ctime) at *ctime*."""
        lo, hi = self.since, ctime + WINDOW_AFTER
        sources: list[dict[str, Any]] = []
        found: list[dict[str, Any]] = []  # candidate answers, strongest first

        # audit log
        events, where, state = self.audit()
        if self.host.live and self.host.which("ausearch"):
            res = self.host.run(["ausearch", "-f", path, "--raw"], timeout=15)
            if res.ok or res.stdout:
                events, where, state = L.parse_audit(res.stdout.splitlines()), f"ausearch -f {path}", "ok"
        hits = [e for e in events if lo <= e["time"] <= hi and L.audit_names(e, path)
                and e.get("success", "yes") == "yes"]
        if state != "ok":
            sources.append({"source": "audit", "result": "unavailable", "detail": state,
                            **said("hint", N_("install auditd and add `auditctl -w {dir} -p wa` to know next time"),
                                   dir=os.path.dirname(path))})
        elif not hits:
            sources.append({"source": "audit", "where": where, "result": "nothing",
                            **said("detail", N_("no audit record names the file after the baseline")),
                            **said("hint", N_("add the rule `auditctl -w {dir} -p wa`"), dir=os.path.dirname(path))})
        else:
            e = hits[-1]
            auid = e.get("auid")
            name = self._uid_name(auid) if auid not in (None, "4294967295", "-1", "unset") else None
            who = name or self._uid_name(e.get("uid"))
            sources.append({"source": "audit", "where": where, "result": "found", "time": when(e["time"]),
                            **said("detail", N_("{program} run by {who} (auid {auid}, uid {uid}) wrote the file"),
                                   program=e.get("comm") or e.get("exe") or "?", who=who, auid=auid,
                                   uid=e.get("uid"))})
            if name is None and (e.get("comm") or "") in ("dpkg", "apt", "apt-get", "rpm", "dnf", "yum"):
                pkg = owner_package or e.get("comm")
                found.append({"actor": pkg, "kind": self.package_kind(pkg), "confidence": "high", "via": "audit"})
            else:
                found.append({"actor": who, "kind": self.kind_of(who), "confidence": "high", "via": "audit"})

        # etckeeper
        ek = self.etckeeper(path)
        if ek is not None:
            if ek["state"] == "found" and ek["author"] and ek["author"] != "root":
                sources.append({"source": "etckeeper", "where": "/etc/.git", "result": "found",
                                "time": when(ek["time"]),
                                **said("detail", N_("commit {commit} by {author} <{email}>: {subject}"),
                                       commit=ek["commit"], author=ek["author"], email=ek["email"],
                                       subject=clean(ek["subject"]))})
                found.append({"actor": ek["author"], "kind": self.kind_of(ek["author"]),
                              "confidence": "high", "via": "etckeeper"})
            else:
                detail = {"absent": N_("/etc is not under etckeeper"),
                          "no-git": N_("git is not installed to read /etc/.git"),
                          "uncommitted": N_("the change is not committed yet (etckeeper commits daily and on "
                                            "package operations)"),
                          "no-commit": N_("no commit after the baseline changed the file"),
                          "found": N_("commit {commit} is by root (an automatic commit)")}[ek["state"]]
                sources.append({"source": "etckeeper", "result": "unavailable" if ek["state"] in ("absent", "no-git")
                                else "nothing", **said("detail", detail, commit=ek.get("commit")),
                                **({"hint": "apt-get install etckeeper"} if ek["state"] == "absent" else {})})

        # sudo
        entries, where = self.sudo()
        hits = [s for s in entries if lo <= s["time"] <= hi and L.command_names(s["command"], s["pwd"], path)]
        if not where:
            sources.append({"source": "sudo", "result": "unavailable",
                            **said("detail", N_("no auth.log, secure or journal to read sudo lines from"))})
        elif not hits:
            sources.append({"source": "sudo", "where": ", ".join(where), "result": "nothing",
                            **said("detail", N_("no sudo line after the baseline names the file"))})
        else:
            s = hits[-1]
            sources.append({"source": "sudo", "where": ", ".join(where), "result": "found", "time": when(s["time"]),
                            **said("detail", N_("{user} ran `{command}` as {runas} on {tty}"), user=s["user"],
                                   command=clean(s["command"]), runas=s["runas"], tty=s["tty"])})
            found.append({"actor": s["user"], "kind": self.kind_of(s["user"]), "confidence": "high", "via": "sudo"})

        # package logs
        ops, apt, where = self.packages()
        pkg_hit = self._package_at(path, ctime, owner_package, ops, apt)
        if not where:
            sources.append({"source": "packages", "result": "unavailable",
                            **said("detail", N_("no dpkg.log, apt history.log or dnf/yum log"))})
        elif pkg_hit is None:
            sources.append({"source": "packages", "where": ", ".join(where), "result": "nothing",
                            **(said("detail", N_("no package operation at the time of the change (the file "
                                                 "belongs to {package})"), package=owner_package) if owner_package
                               else said("detail", N_("no package operation at the time of the change")))})
        else:
            sources.append({"source": "packages", "where": ", ".join(where), "result": "found", **pkg_hit["source"]})
            found.append(pkg_hit["answer"])

        # histories
        timed, untimed, looked = [], [], []
        for user, f, entries_h in self.histories():
            looked.append(f)
            for ts, cmd in entries_h:
                if not self._history_names(f, cmd, path):
                    continue
                if ts is None:
                    untimed.append((user, f, cmd))
                elif lo <= ts <= hi:
                    timed.append((ts, user, f, cmd))
        if timed:
            ts, user, f, cmd = sorted(timed)[-1]
            sources.append({"source": "history", "where": f, "result": "found", "time": when(ts),
                            **said("detail", N_("{user} ran `{command}`"), user=user, command=clean(cmd))})
            found.append({"actor": user, "kind": self.kind_of(user), "confidence": "medium", "via": "history"})
        elif untimed:
            users = sorted({u for u, _, _ in untimed})
            user, f, cmd = untimed[-1]
            sources.append({"source": "history", "where": f, "result": "found",
                            **said("detail", N_("{users}: `{command}` (the history has no times)"),
                                   users=", ".join(users), command=clean(cmd))})
            if len(users) == 1:
                found.append({"actor": users[0], "kind": self.kind_of(users[0]), "confidence": "low",
                              "via": "history"})
        else:
            sources.append({"source": "history", "where": ", ".join(looked) or None,
                            "result": "nothing" if looked else "unavailable",
                            **said("detail", N_("no shell or Asterisk CLI history names the file") if looked
                                   else N_("no shell or Asterisk CLI history found"))})

        # sessions
        sess, where = self.sessions()
        at = L.open_at(sess, ctime)
        users = sorted({s["user"] for s in at})
        if not where:
            sources.append({"source": "sessions", "result": "unavailable",
                            **said("detail", N_("no /var/log/wtmp or /var/lib/wtmpdb/wtmp.db"))})
        elif not at:
            sources.append({"source": "sessions", "where": ", ".join(where), "result": "nothing",
                            **said("detail", N_("no login session was open at {time}"), time=when(ctime))})
        else:
            # No words of any language: user, line (host, login time).
            desc = "; ".join(f"{s['user']} {s['line']} (" + (f"{s['host']}, " if s['host'] else "")
                             + f"{when(s['login'])})" for s in at[:5])
            sources.append({"source": "sessions", "where": ", ".join(where), "result": "found",
                            **said("detail", N_("open at {time}: {sessions}"), time=when(ctime), sessions=desc)})
            if len(users) == 1:
                found.append({"actor": users[0], "kind": self.kind_of(users[0]), "confidence": "medium",
                              "via": "sessions"})
            else:
                kinds = {self.kind_of(u) for u in users}
                found.append({"actor": " or ".join(users), "kind": kinds.pop() if len(kinds) == 1 else "unknown",
                              "confidence": "low", "via": "sessions"})

        rank = {"high": 0, "medium": 1, "low": 2}
        best = min(found, key=lambda a: rank[a["confidence"]]) if found else None
        if best is None:
            best = {"actor": None, "kind": "unknown", "confidence": "low", "via": None}
        else:
            best = dict(best)
            corroborated = [a["via"] for a in found if a is not best and a["actor"] == best["actor"]]
            if corroborated and best["confidence"] == "medium":
                best["confidence"] = "high" if "sessions" in corroborated and best["via"] == "history" else "medium"
        best["sources"] = sources
        best["missing"] = [s.get("hint") or s["detail"] for s in sources if s["result"] != "found"]
        # The same, as (template, fields) for the reader's language (said()).
        best["missing_said"] = [s.get("hint_said") or s.get("detail_said") for s in sources
                                if s["result"] != "found"]
        return best

    # -- helpers -----------------------------------------------------------------
    def _uid_name(self, uid: Any) -> str | None:
        try:
            n = int(uid)
        except (TypeError, ValueError):
            return str(uid) if uid else None
        return self.users().get(n, str(n))

    def _history_names(self, hfile: str, cmd: str, path: str) -> bool:
        if path in cmd:
            return True
        base = os.path.basename(path)
        if hfile.endswith(".asterisk_history"):
            return any(w in cmd for w in ASTERISK_WORDS.get(base, ())) or base in cmd
        return re.search(rf"(^|[\s/'\"]){re.escape(base)}($|[\s'\"])", cmd) is not None

    def _package_at(self, path: str, ctime: float, owner: str | None, ops: list[dict],
                    apt: list[dict]) -> dict[str, Any] | None:
        near = [o for o in ops if abs(o["time"] - ctime) <= PACKAGE_WINDOW]
        conf = [o for o in near if o.get("file") == path]
        mine = [o for o in near if owner and o.get("package") == owner
                and o["action"] in ("install", "upgrade", "configure", "upgraded", "installed", "updated",
                                    "reinstall", "downgrade")]
        if not (conf or mine):
            return None
        pkg = owner or next((o.get("package") for o in reversed(near) if o.get("package")), None) or "a package"
        versions = next((f"{o.get('old')} -> {o.get('new')}" for o in mine if o.get("old") and o.get("new")), "")
        requested = next((a["requested_by"] for a in apt if a["requested_by"] and pkg in a["packages"]
                          and a["start"] - 60 <= ctime <= a["end"] + 60), None)
        line = (conf or mine)[-1]["line"]
        at = when((conf or mine)[-1]["time"])
        what = f"{pkg} {versions}".strip()
        words = (said("detail", N_("{package} at {time}: {line}; apt run by {who}"), package=what, time=at,
                      line=line, who=requested) if requested else
                 said("detail", N_("{package} at {time}: {line}"), package=what, time=at, line=line))
        return {"source": {"time": at, **words, "package": pkg, "requested_by": requested},
                "answer": {"actor": pkg, "kind": self.package_kind(pkg), "confidence": "high",
                           "via": "packages", "package": pkg, "requested_by": requested}}
