"""Beat files: beat times in seconds, one beat a line.

The format of beat annotations (``x.beats`` beside ``x.wav``, read by ``d2m evaluate`` and
``d2m beats``) and of beats a user gives for a dance (``d2m analyze --beats FILE``). On each
line the first number is the beat's time in seconds; further columns (such as the beat's
position in the bar, as in ``.beats`` annotation files) are ignored, and so are blank lines and
everything after ``#``. Commas separate columns as spaces and tabs do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from d2m_core.errors import D2MError


def read_beats_file(path: str | Path, *, sort: bool = True) -> np.ndarray:
    """Beat times (first column, seconds) of a beat file.

    Parameters
    ----------
    path : str or Path
        A text file, one beat a line (see the module docstring).
    sort : bool
        Return the times sorted (annotations: their order does not matter); ``False`` keeps
        the file's order, so a caller can reject a file whose times go backwards.

    Returns
    -------
    np.ndarray [shape=(B,)], seconds
        The times as written (no range check: they may be negative, NaN or repeated).

    Raises
    ------
    D2MError
        The file is missing, unreadable, or has a line that does not start with a number.
    """
    path = Path(path)
    if not path.exists():
        raise D2MError(f"beats file not found: {path}")
    if path.is_dir():
        raise D2MError(f"{path} is a folder: give a text file with one beat time a line")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not text"
        raise D2MError(
            f"cannot read beats file {path} ({why}): give a text file with one beat time a line"
        ) from None
    times = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            try:
                times.append(float(line.replace(",", " ").split()[0]))
            except ValueError:
                raise D2MError(f"{path.name}: not a beat file (line '{line[:40]}')") from None
    out = np.asarray(times, dtype=np.float64)
    return np.sort(out) if sort else out
