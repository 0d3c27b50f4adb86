"""The ``d2m`` command line (also ``python -m d2m_core``): the top-level parser and dispatch.

Every stage the app reaches is reachable here; the app only wires these same library calls.
Each command is a module of :mod:`d2m_core.cli` with ``add_parser(sub)`` and ``run(args)``;
those modules import their heavy dependencies only when the command runs, so ``d2m --help``
stays fast. User errors print one line (``error: ...``) and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from d2m_core.cli import align, analyze, beats, demo, evaluate, generate, train
from d2m_core.errors import D2MError

#: The command modules, in the order ``d2m --help`` lists them.
COMMANDS = (analyze, generate, demo, align, evaluate, beats, train)


def build_parser() -> argparse.ArgumentParser:
    """The ``d2m`` parser, one subcommand per module of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="d2m", description="d2m: music for dance videos (visual rhythm -> synced music)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``d2m`` with these arguments (default: the process's); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except D2MError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return D2MError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
