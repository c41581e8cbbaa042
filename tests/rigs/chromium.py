"""Headless Chromium (Debian ``chromium``) as a rig: screenshots and the
rendered DOM of a local HTML file at a given window size.

Each call is one short-lived browser process with its own throw-away profile
directory and every network-touching feature off, so nothing leaves the
machine and parallel runs by other engineers do not share state. Layout is
measured by a harness page around the report (see HARNESS).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1",
         # lets the harness page read the framed report (file:// pages are
         # otherwise each their own origin)
         "--allow-file-access-from-files"]

# Headless Chromium will not make a window narrower than 500 px, so a phone
# width is had by framing the report in an iframe of exactly that size, at
# the top left of a harness page. The harness measures what a reader sees
# (page width against the frame, where each remedy is laid out, whether any
# <details> is open, which command or check-name tokens wrap across lines) and copies the report's DOM and the measurements into
# its own DOM, which --dump-dom prints. The report itself carries no script.
HARNESS = """<!DOCTYPE html>
<html><head><script>
function measure(frame) {
  var d = frame.contentDocument, root = d.documentElement;
  var out = {scrollWidth: Math.max(root.scrollWidth, d.body.scrollWidth),
             innerWidth: frame.contentWindow.innerWidth, remedies: [],
             evidence_open: d.querySelectorAll('details[open]').length};
  d.querySelectorAll('[data-role=remedy]').forEach(function (el) {
    var r = el.getBoundingClientRect();
    out.remedies.push({finding: el.closest('[data-finding]').getAttribute('data-finding'),
                       text: el.textContent, height: r.height, left: r.left, right: r.right});
  });
  // Tokens laid out across two lines: in a command (split at spaces) or a
  // check name (split at dots), a token with more than one line box is broken.
  out.broken = [];
  function lines(node, start, end) {
    var r = d.createRange(); r.setStart(node, start); r.setEnd(node, end);
    var tops = {};
    Array.prototype.forEach.call(r.getClientRects(), function (b) { if (b.width > 0) tops[Math.round(b.top)] = 1; });
    return Object.keys(tops).length;
  }
  function tokens(el, sep, role) {
    var walker = d.createTreeWalker(el, NodeFilter.SHOW_TEXT), node;
    while ((node = walker.nextNode())) {
      var text = node.data, re = sep, m, pos = 0;
      re.lastIndex = 0;
      var parts = text.split(re), off = 0;
      parts.forEach(function (part) {
        if (part.length > 1 && lines(node, off, off + part.length) > 1) out.broken.push({role: role, token: part});
        off += part.length + 1;
      });
    }
  }
  out.commands = d.querySelectorAll('[data-role=command]').length;
  d.querySelectorAll('[data-role=command]').forEach(function (el) { tokens(el, / /g, 'command'); });
  d.querySelectorAll('[data-role=check-name] span').forEach(function (el) { tokens(el, /\\./g, 'check-name'); });
  document.getElementById('layout').textContent = JSON.stringify(out);
  document.getElementById('dom').textContent = root.outerHTML;
}
</script></head>
<body style="margin:0">
<iframe src="SRC" onload="measure(this)" style="display:block;border:0;width:WIDTHpx;height:HEIGHTpx"></iframe>
<pre id="layout"></pre><pre id="dom"></pre>
</body></html>"""


class _Pre(HTMLParser):
    """Text of the harness's <pre id=...> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.current: str | None = None
        self.found: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "pre":
            self.current = dict(attrs).get("id")
            self.found[self.current] = ""

    def handle_endtag(self, tag):
        self.current = None

    def handle_data(self, data):
        if self.current:
            self.found[self.current] += data


class Chromium:
    def __init__(self, exe: str, workdir: Path) -> None:
        self.exe, self.workdir = exe, workdir

    def _run(self, page: Path, width: int, height: int, *extra: str) -> str:
        profile = tempfile.mkdtemp(prefix="profile-", dir=self.workdir)
        try:
            proc = subprocess.run(
                [self.exe, *FLAGS, f"--user-data-dir={profile}",
                 f"--window-size={width},{height}", *extra, page.resolve().as_uri()],
                capture_output=True, text=True, timeout=60,
                env={**os.environ, "HOME": profile})
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        if proc.returncode != 0:
            raise AssertionError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return proc.stdout

    def _harness(self, page: Path, width: int, height: int) -> Path:
        harness = page.with_name(f"{page.stem}-{width}x{height}-harness.html")
        harness.write_text(HARNESS.replace("SRC", page.name).replace("WIDTH", str(width))
                           .replace("HEIGHT", str(height)), encoding="utf-8")
        return harness

    def screenshot(self, page: Path, out: Path, width: int, height: int) -> Path:
        """A PNG of the page as a window of width x height shows it."""
        self._run(self._harness(page, width, height), width, height,
                  f"--screenshot={out}")
        return out

    def view(self, page: Path, width: int, height: int) -> tuple[str, dict]:
        """The page's rendered DOM and layout measurements at width x height."""
        pre = _Pre()
        pre.feed(self._run(self._harness(page, width, height), width, height, "--dump-dom"))
        if not pre.found.get("layout"):
            raise AssertionError("the harness did not measure the page")
        return pre.found["dom"], json.loads(pre.found["layout"])


@pytest.fixture
def chromium(tmp_path_factory):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("needs Debian chromium (scripts/test-packages.txt)")
    return Chromium(exe, tmp_path_factory.mktemp(f"chromium-{os.getpid()}"))
