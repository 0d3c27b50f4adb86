"""The ``d2m`` command line: :mod:`d2m_core.cli.main` builds the parser and dispatches to one
module per command, each registering itself with ``add_parser(sub)``: :mod:`.analyze`,
:mod:`.generate`, :mod:`.demo`, :mod:`.align`, :mod:`.evaluate`, :mod:`.beats`, :mod:`.train`.
Every command reaches the same library functions as the app."""
