"""The README's config reference is generated from the checks' schemas;
this keeps it from drifting when a key is added, renamed or re-documented."""

from __future__ import annotations

from diagnose.docgen import BEGIN, END, reference
from diagnose.registry import Registry
from tests.conftest import ROOT


def test_readme_config_reference_matches_the_schemas():
    text = (ROOT / "README.md").read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == reference(Registry.discover()), \
        "README is stale: run `python3 -m diagnose.docgen` and paste the block between the markers"


def test_every_check_has_its_docs_page():
    for name in Registry.discover().checks:
        page = ROOT / "docs" / "checks" / f"{name}.md"
        assert page.is_file(), f"{name}: no {page.relative_to(ROOT)}"
        assert page.read_text().startswith(f"# {name}")
