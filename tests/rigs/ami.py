"""A recorded Asterisk manager session replayed over TCP on 127.0.0.1.

The recording (tests/data/ami/*.txt) holds the server's side: the banner,
then one block per action (``=== Login``, ``=== QueueStatus``, ...). The
server sends the banner on connect, reads each action the client sends,
answers with the block recorded for that action (the client's ActionID in
place of the recorded one), refuses a wrong secret the way Asterisk does,
and closes after Logoff. It runs in a thread and stops with the fixture.
"""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path


def load_recording(path: Path) -> dict[str, str]:
    blocks: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("#") and current is None:
            continue
        if line.startswith("=== "):
            current = line[4:].strip()
            blocks[current] = []
            continue
        if current is not None:
            blocks[current].append(line)
    return {k: "\r\n".join(v).rstrip("\r\n") + "\r\n\r\n" if k != "banner" else v[0] + "\r\n"
            for k, v in blocks.items()}


class AmiReplay:
    def __init__(self, recording: Path, secret: str = "s3cret") -> None:
        self.blocks = load_recording(recording)
        self.secret = secret
        self.actions: list[dict[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        buf = b""
        try:
            conn.sendall(self.blocks["banner"].encode())
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                msg, buf = buf.split(b"\r\n\r\n", 1)
                fields = {}
                for line in msg.decode().split("\r\n"):
                    k, _, v = line.partition(":")
                    fields[k.strip().lower()] = v.strip()
                self.actions.append(fields)
                action = fields.get("action", "")
                name = next((k for k in self.blocks if k.lower() == action.lower()), None)
                if action.lower() == "login" and fields.get("secret") != self.secret:
                    reply = "Response: Error\r\nActionID: x\r\nMessage: Authentication failed\r\n\r\n"
                elif name is None:
                    reply = "Response: Error\r\nActionID: x\r\nMessage: Invalid/unknown command\r\n\r\n"
                else:
                    reply = self.blocks[name]
                reply = re.sub(r"(?m)^ActionID: [^\r\n]*", lambda _m: "ActionID: " + fields.get("actionid", ""),
                               reply)
                conn.sendall(reply.encode())
                if action.lower() == "logoff" or "Authentication failed" in reply:
                    return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self.thread.join(2)
