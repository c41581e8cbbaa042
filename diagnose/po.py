"""gettext ``.po`` catalogs, read as they are (no ``.mo`` build step), and
the extraction of marked messages from the sources.

Catalog files: ``locale/<lang>.po`` beside any package of diagnose (the
engine, ``checks/<area>/``, ``reports/``, ``delivery/`` ...). Every file of a
language is merged into one catalog; a check that adds messages adds its own
``checks/<area>/locale/ru.po``, so parallel work never edits one shared file.

Developers: ``python3 -m diagnose.po check`` lists marked messages without a
translation; ``python3 -m diagnose.po update`` appends them (untranslated,
with the source line) to the ``ru.po`` of the package that uses them.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Iterator

_CATALOGS: dict[str, dict[str, tuple[str, ...]]] = {}
MARKERS = {"_": 1, "N_": 1, "_n": 2}  # marker name -> how many leading literal args are msgids


def package_roots() -> list[Path]:
    """The folders holding diagnose's code: diagnose/ plus, in a checkout,
    the checks/ and reports/ folders beside it."""
    here = Path(__file__).resolve().parent
    roots = [here]
    top = here.parent
    for name in ("checks", "reports"):
        if not (here / name).is_dir() and (top / name / "__init__.py").is_file():
            roots.append(top / name)
    return roots


def catalog_files(lang: str) -> list[Path]:
    out = []
    for root in package_roots():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
            if os.path.basename(dirpath) == "locale" and f"{lang}.po" in filenames:
                out.append(Path(dirpath) / f"{lang}.po")
    return out


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        raise ValueError(f"not a quoted string: {s!r}")
    body, out, i = s[1:-1], [], 0
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


class Forms(tuple):
    """The translations of one msgid; ``plural`` is its msgid_plural."""

    plural: str | None = None


def parse(text: str, where: str = "<po>") -> dict[str, tuple[str, ...]]:
    """msgid -> translations (one, or one per plural form). Fuzzy entries
    and the header are left out; an empty msgstr means "not translated"."""
    entries: dict[str, tuple[str, ...]] = {}
    cur: dict[str, str] = {}
    field = None
    fuzzy = False

    def flush() -> None:
        nonlocal cur, fuzzy
        if cur.get("msgid") and not fuzzy:
            forms = Forms(cur[k] for k in sorted(k for k in cur if k.startswith("msgstr")))
            forms.plural = cur.get("msgid_plural")
            entries[cur["msgid"]] = forms
        cur, fuzzy = {}, False

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        try:
            if not line:
                field = None
            elif line.startswith("#"):
                if any(k.startswith("msgstr") for k in cur):
                    flush()
                if line.startswith("#,") and "fuzzy" in line:
                    fuzzy = True
            elif line.startswith('"'):
                if field is None:
                    raise ValueError("continuation without a keyword")
                cur[field] += _unquote(line)
            else:
                key, _, rest = line.partition(" ")
                if key in ("msgctxt", "msgid") and any(k.startswith("msgstr") for k in cur):
                    flush()
                if key.startswith("msgstr["):
                    key = f"msgstr{int(key[7:-1]):02d}"
                elif key == "msgstr":
                    key = "msgstr00"
                elif key not in ("msgid", "msgid_plural", "msgctxt"):
                    raise ValueError(f"unknown keyword {key}")
                field = key
                cur[field] = _unquote(rest)
        except ValueError as exc:
            raise ValueError(f"{where}:{lineno}: {exc}") from None
    flush()
    return entries


def catalog(lang: str) -> dict[str, tuple[str, ...]]:
    """Every catalog file of *lang*, merged (read once per process)."""
    if lang not in _CATALOGS:
        merged: dict[str, tuple[str, ...]] = {}
        for path in catalog_files(lang):
            merged.update(parse(path.read_text(encoding="utf-8"), str(path)))
        _CATALOGS[lang] = merged
    return _CATALOGS[lang]


# --- extraction -----------------------------------------------------------------

def source_files() -> Iterator[Path]:
    for root in package_roots():
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


def extract(path: Path) -> Iterator[tuple[str, str | None, int]]:
    """(msgid, msgid_plural or None, line) of every marked literal in *path*."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else \
            node.func.attr if isinstance(node.func, ast.Attribute) else None
        if name not in MARKERS:
            continue
        lits = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
                for a in node.args[:MARKERS[name]]]
        if not lits or lits[0] is None:
            continue
        yield lits[0], (lits[1] if name == "_n" else None), node.lineno


def messages() -> dict[str, tuple[str | None, list[str]]]:
    """msgid -> (plural, ["file:line", ...]) over every source file."""
    out: dict[str, tuple[str | None, list[str]]] = {}
    for path in source_files():
        for msgid, plural, line in extract(path):
            prev = out.get(msgid, (plural, []))
            prev[1].append(f"{path}:{line}")
            out[msgid] = (prev[0] or plural, prev[1])
    return out


def untranslated(lang: str) -> dict[str, tuple[str | None, list[str]]]:
    cat = catalog(lang)
    nforms = 3 if lang == "ru" else 2
    out = {}
    for msgid, (plural, where) in messages().items():
        entry = cat.get(msgid)
        if not entry or not all(entry) or (plural is not None and len(entry) < nforms):
            out[msgid] = (plural, where)
    return out


HEADER = '''# Russian translations of diagnose ({what}).
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Language: ru\\n"
"Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);\\n"
'''


def _home_catalog(source: str, lang: str) -> Path:
    """The catalog beside the package a source file belongs to."""
    folder = Path(source).resolve().parent
    return folder / "locale" / f"{lang}.po"


def update(lang: str = "ru") -> list[Path]:
    """Append every untranslated message to its package's catalog."""
    todo: dict[Path, list[str]] = {}
    for msgid, (plural, where) in untranslated(lang).items():
        cat_path = _home_catalog(where[0].rsplit(":", 1)[0], lang)
        existing = cat_path.read_text(encoding="utf-8") if cat_path.exists() else ""
        if f"\nmsgid {quote(msgid)}\n" in existing:
            continue  # present but empty or incomplete: the translator fills it in
        entry = [f"#: {os.path.relpath(w.rsplit(':', 1)[0], package_roots()[0].parent)}"
                 for w in where[:1]]
        entry.append(f"msgid {quote(msgid)}")
        if plural is None:
            entry.append('msgstr ""')
        else:
            entry.append(f"msgid_plural {quote(plural)}")
            entry += [f'msgstr[{i}] ""' for i in range(3 if lang == "ru" else 2)]
        todo.setdefault(cat_path, []).append("\n".join(entry))
    for path, entries in todo.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8") if path.exists() else \
            HEADER.format(what=path.parent.parent.name)
        path.write_text(text.rstrip("\n") + "\n\n" + "\n\n".join(entries) + "\n", encoding="utf-8")
    _CATALOGS.pop(lang, None)
    return sorted(todo)


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    lang = argv[1] if len(argv) > 1 else "ru"
    if cmd == "update":
        for path in update(lang):
            print(f"updated {path}")
        return 0
    missing = untranslated(lang)
    for msgid, (_, where) in sorted(missing.items(), key=lambda kv: kv[1][1][0]):
        print(f"{where[0]}: {msgid!r}")
    print(f"{len(missing)} message(s) without a {lang} translation", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
