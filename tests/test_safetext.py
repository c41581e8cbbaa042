"""diagnose.safetext: system strings shown without control characters."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from diagnose.safetext import cut, is_safe, show, show_obj, xml_text

FORGED = "Movies\n[✓] disk.space  Disk / is fine\x1b[8m hidden \x1b]0;pwned\x07\x1b[2J\x9b31m"


def test_forged_line_and_escapes_are_shown_escaped():
    out = show(FORGED)
    assert "\n" not in out and "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert out == ("Movies\\n[✓] disk.space  Disk / is fine\\x1b[8m hidden \\x1b]0;pwned\\x07"
                   "\\x1b[2J\\x9b31m")


@pytest.mark.parametrize("raw, shown", [
    ("a\tb", "a\\tb"), ("a\rb", "a\\rb"), ("\x00", "\\x00"), ("\x7f", "\\x7f"),
    ("\x85", "\\x85"), ("x\u202ey", "x\\u202ey"), ("\u2028", "\\u2028"), ("\ufeff", "\\ufeff"),
    ("caf\u00e9 \u0416", "caf\u00e9 \u0416"), ("C:\\dir", "C:\\dir"),
])
def test_each_class_of_character(raw, shown):
    assert show(raw) == shown


def test_undecodable_file_name_bytes_are_shown_as_bytes():
    name = os.fsdecode(b"film\xff\xfe.mkv")  # not UTF-8: surrogateescape
    out = show(name)
    assert out == "film\\xff\\xfe.mkv"
    out.encode("utf-8")  # printable without UnicodeEncodeError
    assert show("\ud800") == "\\ud800"


def test_keep_newlines_keeps_only_newlines():
    assert show("line 1\nline 2\r\x1b[2J", keep_newlines=True) == "line 1\nline 2\\r\\x1b[2J"


def test_clean_strings_are_returned_as_is():
    s = "/srv/share/Movies (12.2 MB, owner ivan)"
    assert show(s) is s and is_safe(s) and not is_safe(FORGED)


def test_show_obj_walks_keys_and_values():
    assert show_obj({"a\n": ["x\x1b", 3, None, {"k": "\x00"}]}) == {"a\\n": ["x\\x1b", 3, None, {"k": "\\x00"}]}


def test_xml_text_makes_any_input_well_formed():
    every = "".join(chr(i) for i in range(0x00, 0x250)) + "\ud800\udfff\ufffe\uffff\U0001f600"
    doc = f'<r a="{xml_escape(xml_text(every))}">{xml_escape(xml_text(every))}</r>'
    root = ET.fromstring(doc)
    assert "\\x1b" in root.text and "\U0001f600" in root.text


def xml_escape(s: str) -> str:
    from xml.sax.saxutils import escape

    return escape(s, {'"': "&quot;"})


def test_cut():
    assert cut("abcdef", 4) == "abc…" and cut("abc", 4) == "abc"
