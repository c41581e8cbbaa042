"""What every database engine module shares: where a database's files live,
error texts scrubbed of passwords, and counted words.

The engines (:mod:`.sqlite`, :mod:`.postgres`, :mod:`.mysql`) and the check
itself import from here, never from each other, so no import runs in a circle.
"""

from __future__ import annotations

import os
from typing import Any

from diagnose.config import redact
from diagnose.host import Host
from diagnose.i18n import N_

# Kinds of database objects as a reader names them (marked for translation).
OBJECT_TYPES = {"table": N_("table"), "index": N_("index"), "database": N_("database"),
                "journal": N_("journal"), "relation": N_("relation"), "view": N_("view")}


def scrub(text: str, secret: str | None) -> str:
    """Error texts may echo connection strings: remove the password."""
    text = redact(text)
    if secret:
        text = text.replace(secret, "***")
    return text


def location(host: Host, path: str | None) -> dict[str, Any]:
    """Where database files live: the mount holding *path*, its device, and
    its free space now (as df counts it: root's reserve is not free)."""
    loc: dict[str, Any] = {"path": path, "mount": None, "fstype": None, "source": None, "device": None,
                           "read_only": None}
    if not path or not host.exists(path):
        return loc
    m = host.mount_of(path)
    if m is not None:
        # statvfs sees the superblock's state: ext4 that remounted itself
        # read-only after errors still says "rw" in the mount's own options.
        st = host.statvfs(path)
        loc.update(mount=m.mountpoint, fstype=m.fstype, source=m.source, device=m.device,
                   read_only=m.read_only or bool(st.f_flag & os.ST_RDONLY))
        usable = (st.f_blocks - st.f_bfree + st.f_bavail) * st.f_frsize
        loc.update(free_bytes=st.f_bavail * st.f_frsize, size_bytes=st.f_blocks * st.f_frsize,
                   free_percent=round(100.0 * st.f_bavail * st.f_frsize / usable, 2) if usable else None)
    return loc
