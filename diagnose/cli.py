"""Command-line interface (placeholder until the CLI lands)."""
import sys


def main(argv=None) -> int:
    from diagnose import __version__
    print(f"diagnose {__version__}")
    return 0
