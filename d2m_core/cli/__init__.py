"""The ``d2m`` command line, one module per command; :mod:`d2m_core.cli.main` builds the
parser. Every command reaches the same library functions as the app."""
