"""Where a section or key of a TOML config file is, for error messages:
tomllib keeps no positions, so :class:`Lines` reads them from the text,
and only when a message first asks (a valid file never does)."""

from __future__ import annotations

import re

MAX_LINE = 4096


class Lines:
    """Finds the line of a section or key in TOML text. tomllib keeps no
    positions, so this walks the text: table headers ``[x]`` / ``[[x]]``
    and ``key =`` lines (dotted keys too), counting array-of-table
    occurrences. Both patterns are anchored and cannot backtrack into each
    other, so a hostile line costs time linear in its length."""

    _HEADER = r"\s*(\[\[?)([^\]\n]*)\]"
    _KEY = r"""\s*("?)([A-Za-z0-9_.-]+)\1[ \t]*="""

    def __init__(self, text: str) -> None:
        self.text = text
        self._rows: list[tuple[int, str, int, str | None]] | None = None

    @property
    def rows(self) -> list[tuple[int, str, int, str | None]]:
        """(line, table, index, key) of every header and key line, read
        when a line is first asked for (a valid file never asks)."""
        if self._rows is None:
            self._rows = self._read(self.text)
        return self._rows

    def _read(self, text: str) -> list[tuple[int, str, int, str | None]]:
        rows: list[tuple[int, str, int, str | None]] = []
        header, key_line = re.compile(self._HEADER), re.compile(self._KEY)
        table, counts, index = "", {}, 0
        for n, line in enumerate(text.splitlines(), 1):
            if len(line) > 4 * MAX_LINE:
                line = line[:4 * MAX_LINE]
            m = header.match(line)
            if m:
                table = ".".join(p.strip().strip('"') for p in m.group(2).split("."))
                if m.group(1) == "[[":
                    counts[table] = counts.get(table, -1) + 1
                    index = counts[table]
                else:
                    index = 0
                rows.append((n, table, index, None))
                continue
            k = key_line.match(line)
            if k:
                key = k.group(2)
                rows.append((n, table, index, key))
                if "." in key:  # site.name = "x" is key name of table site
                    parts = key.split(".")
                    sub = ".".join(p for p in [table] + parts[:-1] if p)
                    rows.append((n, sub, 0, parts[-1]))
                    rows.append((n, table, index, parts[0]))
        return rows

    def _exact(self, table: str, key: str | None, index: int) -> int | None:
        for n, t, i, k in self.rows:
            if t == table and i == index and k == key:
                return n
        return None

    def find(self, table: str, key: str | None = None, index: int = 0) -> int | None:
        """The line of *key* in *table* (its *index*-th occurrence for
        ``[[table]]``); else the nearest line that explains it: the table's
        header, the line that assigns the table as a value, the first line
        that sets a key of that name."""
        found = self._exact(table, key, index)
        if found is None and key is not None:
            found = self._exact(table, None, index)
        if found is None and table:
            found = self._exact("", table.split(".")[0], 0)
        if found is None and key is not None:
            found = next((n for n, _, _, k in self.rows if k == key), None)
        return found
