"""User-facing errors.

Every problem a user can fix (a missing file, a corrupt video, no dancer in view, a bad prompt)
raises :class:`D2MError` with one line that names the problem and what to do. The CLI prints it
and exits with code 2; the app shows it as a ``gr.Error``. Anything else is a bug.
"""

from __future__ import annotations


class D2MError(Exception):
    """A problem with the user's input or environment, with a one-line message saying what to do."""

    exit_code = 2
