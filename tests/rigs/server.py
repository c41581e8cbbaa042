"""A healthy call-center server made of real components, and load to put on it.

The server is the gateway rig's server namespace (tests/rigs/gateway.py)
with a default route through the gateway, so network.connectivity has a
link, a gateway and a "server" (the gateway's admin port) to check; the
gateway namespace runs sipp answering SIP OPTIONS. Beside it: a SQLite
database, a PostgreSQL cluster with amcheck, a MariaDB server, the
call-center service (tests/rigs/services.py) listening on its port, and a
small tmpfs as the audited data disk. ``diagnose run`` runs inside the
server namespace; every check configured here should find nothing wrong.

``Load`` puts CPU and disk load on the machine while the runs go on: one
Python busy loop per core and a ``dd`` writing (and syncing) a file under
the test's folder, over and over. Each is started here and stopped by its
pid, even when the test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import is_root
from tests.rigs.databases import MariaDB, PgCluster, Tmpfs, make_sqlite, pg_bindir
from tests.rigs.gateway import GW_ADDR, GatewayRig
from tests.rigs.services import ServicesRig, free_port

HTTP_PORT = 8080

_BUSY = "while True:\n    pass\n"
# dd the way a backup or a copy loads a disk: big writes, flushed to the device.
_DD = 'while :; do dd if=/dev/zero of="$1" bs=1M count=32 conv=fsync status=none; rm -f "$1"; done'


class FullServer:
    """Every component, started in order and stopped in reverse."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.gw: GatewayRig | None = None
        self.pg: PgCluster | None = None
        self.my: MariaDB | None = None
        self.svc: ServicesRig | None = None
        self.disk: Tmpfs | None = None

    def build(self) -> None:
        self.gw = GatewayRig(self.base)
        self.gw.start_sipp()
        self.gw.start_http(HTTP_PORT)
        self.gw.allow_ping_socket()
        subprocess.run(["ip", "-n", self.gw.srv, "route", "add", "default", "via", GW_ADDR], check=True,
                       capture_output=True, timeout=20)
        self.disk = Tmpfs("soak", "16m")
        os.makedirs(self.disk.path("callcenter"))
        self.sqlite = self.disk.path("callcenter/cc.db")
        make_sqlite(self.sqlite)
        self.pg = PgCluster("soak")
        self.pg.start()
        self.pg.sql("postgres", "CREATE DATABASE cc")
        self.pg.sql("cc", "CREATE EXTENSION amcheck",
                    "CREATE TABLE agents (id int PRIMARY KEY, name text)",
                    "CREATE INDEX agents_name ON agents(name)",
                    "INSERT INTO agents SELECT g, 'agent-' || g FROM generate_series(1, 2000) g")
        self.my = MariaDB("soak")
        self.my.start()
        self.my.sql(None, "CREATE DATABASE cc")
        self.my.sql("cc", "CREATE TABLE agents (id INT PRIMARY KEY, name VARCHAR(40), KEY(name)) ENGINE=Aria",
                    "INSERT INTO agents SELECT seq, CONCAT('agent-', seq) FROM seq_1_to_2000")
        svc_dir = self.base / "svc"
        svc_dir.mkdir()
        self.svc = ServicesRig(svc_dir)
        self.port = free_port()
        self.svc.start("serve", self.port)

    @property
    def prefix(self) -> list[str]:
        """Run a command inside the server namespace."""
        assert self.gw is not None
        return ["ip", "netns", "exec", self.gw.srv]

    def config(self) -> Path:
        assert self.gw and self.pg and self.my and self.svc and self.disk
        text = f"""[site]
name = "Soak office"
role = "server"

[network]
interface = "eth0"
server = "{GW_ADDR}"
ports = [{HTTP_PORT}]

[disk]
mounts = ["{self.disk.mountpoint}"]
app_paths = ["{self.disk.path('callcenter')}"]

[[database]]
name = "calls-sqlite"
url = "sqlite:///{self.sqlite}"

[[database]]
name = "calls-postgres"
url = "{self.pg.url('cc')}"
log = "{self.pg.log}"

[[database]]
name = "calls-mariadb"
url = "{self.my.url('cc')}"
log = "{self.my.errlog}"

[[service]]
name = "ccserver"
process = "{self.svc.name}"
ports = [{self.port}]
log = "{self.svc.log}"

[[gateway]]
name = "fxo-office-pbx"
address = "{GW_ADDR}"
"""
        path = self.base / "server.toml"
        path.write_text(text)
        return path

    def close(self) -> None:
        for part in (self.svc, self.my, self.pg):
            if part is not None:
                part.cleanup()
        if self.disk is not None:
            self.disk.cleanup()
        if self.gw is not None:
            self.gw.close()


class Load:
    """CPU and disk load, started and stopped by pid."""

    def __init__(self, folder: Path, cpus: int | None = None) -> None:
        self.folder = folder
        self.cpus = cpus or os.cpu_count() or 1
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        for _ in range(self.cpus):
            self.procs.append(subprocess.Popen([sys.executable, "-c", _BUSY]))
        # Its own process group: stopping it stops the dd it is running too.
        self.procs.append(subprocess.Popen(["sh", "-c", _DD, "sh", str(self.folder / "dd.bin")],
                                           start_new_session=True))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                if proc.args[0] == "sh":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            proc.wait(timeout=10)
        self.procs.clear()
        (self.folder / "dd.bin").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def full_server(tmp_path_factory):
    if not is_root():
        pytest.skip("needs root: namespaces, mounts, database servers")
    for tool in ("sipp", "mariadbd", "ip"):
        if not _which(tool):
            pytest.skip(f"needs {tool}")
    if pg_bindir() is None:
        pytest.skip("needs the PostgreSQL server binaries")
    rig = FullServer(tmp_path_factory.mktemp("soak"))
    try:
        rig.build()
        yield rig
    finally:
        rig.close()


@pytest.fixture
def load(tmp_path):
    got = Load(tmp_path)
    try:
        got.start()
        yield got
    finally:
        got.stop()


def _which(tool: str) -> bool:
    import shutil

    return shutil.which(tool) is not None
