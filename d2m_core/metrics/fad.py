"""Fréchet Audio Distance (Kilgour et al. 2019) between two sets of embeddings.

Conventions
-----------
- Embeddings are ``(n, d)`` float arrays, one row per embedding frame (for VGGish, one per
  0.96 s example); a *set* pools the frames of all its clips, as the original FAD does.
- Each set is fitted with a Gaussian: the sample mean and the unbiased (``ddof=1``) sample
  covariance. The distance between ``N(mu1, S1)`` and ``N(mu2, S2)`` is
  ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``.
- ``tr((S1 S2)^(1/2))`` is computed as ``sum(sqrt(eig(R S2 R)))`` with ``R = S1^(1/2)``: the
  eigenvalues of ``S1 S2`` equal those of the symmetric PSD matrix ``R S2 R``, so it needs
  only symmetric eigendecompositions (``eigh``), never a general matrix square root; small
  negative eigenvalues from round-off are clipped to 0. It is therefore safe for singular and
  near-singular covariances (fewer frames than dimensions, silent clips) and never complex.
- The result is clipped at 0 (round-off can make a zero distance slightly negative).
"""

from __future__ import annotations

import numpy as np


def _check_embeddings(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be (n, d) embeddings, got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 embeddings for a covariance, got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x


def gaussian_stats(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a set of embeddings.

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n, d)], n >= 2

    Returns
    -------
    mu : np.ndarray [shape=(d,)]
    sigma : np.ndarray [shape=(d, d)]
        Unbiased sample covariance.
    """
    x = _check_embeddings(embeddings, "embeddings")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between two Gaussians.

    Parameters
    ----------
    mu1, mu2 : np.ndarray [shape=(d,)]
        Means.
    sigma1, sigma2 : np.ndarray [shape=(d, d)]
        Covariances (symmetric positive semi-definite; may be singular).

    Returns
    -------
    float
        ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``, >= 0.
    """
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    s1, s2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"shapes do not agree: mu {mu1.shape} {mu2.shape}, sigma {s1.shape} {s2.shape}"
        )
    for a in (mu1, mu2, s1, s2):
        if not np.all(np.isfinite(a)):
            raise ValueError("means and covariances must be finite")
    r = _psd_sqrt(s1)
    m = r @ ((s2 + s2.T) / 2.0) @ r
    eig = np.linalg.eigvalsh((m + m.T) / 2.0)
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu1 - mu2
    dist = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(dist, 0.0)


def frechet_audio_distance(generated: np.ndarray, reference: np.ndarray) -> float:
    """FAD between a generated and a reference set of embeddings.

    Parameters
    ----------
    generated, reference : np.ndarray [shape=(n, d) and (m, d)], n, m >= 2
        Embedding frames of each set (all clips pooled).

    Returns
    -------
    float
        >= 0; 0 for identical sets.
    """
    g = _check_embeddings(generated, "generated embeddings")
    r = _check_embeddings(reference, "reference embeddings")
    if g.shape[1] != r.shape[1]:
        raise ValueError(f"embedding widths differ: {g.shape[1]} vs {r.shape[1]}")
    return frechet_distance(*gaussian_stats(g), *gaussian_stats(r))
