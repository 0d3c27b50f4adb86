"""``d2m demo``: ``d2m analyze`` on the bundled example dance, offline.

Registered in :func:`d2m_core.cli.main.build_parser` by :func:`add_parser`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from d2m_core.cli import analyze as analyze_cli

ASSETS = Path(__file__).resolve().parents[2] / "assets"
#: The bundled example: keypoints of a 10 s dance at 112 BPM (entry ``dance`` of the archive).
EXAMPLE_KEYPOINTS = ASSETS / "example_dance_112bpm.npz"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand to the ``d2m`` parser's subparsers."""
    p = sub.add_parser("demo", help="analyse the bundled example dance (offline)")
    p.add_argument("--out", default="out", help="output folder (default ./out)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute ``d2m demo``: the analysis JSON and rhythm plot of the example, in ``--out``."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ns = argparse.Namespace(
        input=EXAMPLE_KEYPOINTS,
        key="dance",
        fps=None,
        view=0,
        json=out / "example_analysis.json",
        plot=out / "example_rhythm.png",
        overlay=None,
    )
    return analyze_cli.run(ns)
