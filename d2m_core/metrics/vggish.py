"""VGGish in PyTorch: log-mel front end, network, PCA postprocessing, and weight loading.

Written for d2m from the published description of VGGish (Hershey et al. 2017, the AudioSet
"VGGish" release); it loads the standard released weights.

Conventions
-----------
- Input audio: ``(N,)`` or ``(N, C)`` float samples at any rate; it is mixed to mono and
  resampled to :data:`SAMPLE_RATE` (16 kHz, librosa's soxr resampler; the TensorFlow release
  uses resampy, a negligible difference).
- Front end: STFT magnitude with a 25 ms periodic Hann window (400 samples), 10 ms hop
  (160 samples), FFT size 512, no centring or padding; 64 HTK-mel bands from 125 to 7500 Hz
  (triangular, unnormalised, DC bin excluded); ``log(mel + 0.01)``. Frames are grouped into
  examples of 96 frames (0.96 s), ``(n_examples, 96, 64)``, by default without overlap
  (``hop_s=0.96``); audio shorter than 0.975 s gives no example.
- Network: 4 conv blocks (3x3 convolutions, ReLU) of widths 64 | 128 | 256 256 | 512 512,
  each followed by 2x2 max pooling, then the (6, 4, 512) map flattened in height, width,
  channel order (the TensorFlow layout) and fully connected layers 4096, 4096, 128.
- Output: the 128-D embedding per example. ``final_relu=False`` (default) returns the last
  layer before its ReLU, ``postprocess=False`` (default) skips PCA: together the embedding
  Google's FAD and the ``frechet_audio_distance`` package (``use_pca=False,
  use_activation=False``) use. ``postprocess=True`` applies the released PCA (subtract
  ``pca_means``, multiply by ``pca_eigen_vectors``), clips to [-2, 2] and quantises to 8 bits
  (values 0..255 as float), reproducing the AudioSet release features.

Weight files (:func:`load_vggish`)
----------------------------------
- Network: the torchvggish port's ``vggish-10086976.pth`` (a plain state dict, keys
  ``features.{0,3,6,8,11,13}.{weight,bias}`` for the six convolutions and
  ``embeddings.{0,2,4}.{weight,bias}`` for the three linear layers; this module's own
  :class:`VGGish` uses the same names), as ``.pth``/``.pt`` or ``.safetensors``. A state
  dict with a ``model.``/``vggish.`` prefix or a ``{"state_dict": ...}`` wrapper is accepted.
  Layer widths are read from the tensors' shapes, so smaller test networks load the same way.
- PCA: torchvggish's ``vggish_pca_params-970ea276.pth`` or the TensorFlow release's
  ``vggish_pca_params.npz``: keys ``pca_eigen_vectors`` (128, 128) and ``pca_means``
  (128,) or (128, 1). ``pproc.pca_matrix`` / ``pproc.pca_means`` (a full torchvggish model
  state dict) are accepted too, in the network file or the PCA file.
- Search order when no file is given: ``$D2M_VGGISH_WEIGHTS`` (and ``$D2M_VGGISH_PCA``), then
  torch hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints/``, where torchvggish's
  ``torch.hub.load`` puts the files). ``hf://OWNER/REPO/FILE`` names a file in the Hugging Face
  cache (never downloaded).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from d2m_core import settings

SAMPLE_RATE = 16000
WINDOW_S = 0.025
HOP_S = 0.010
N_FFT = 512
NUM_MEL = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96
EXAMPLE_S = 0.96
EMBEDDING_SIZE = 128
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0

WEIGHTS_FILE = "vggish-10086976.pth"
PCA_FILE = "vggish_pca_params-970ea276.pth"
WEIGHTS_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/" + WEIGHTS_FILE
PCA_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/" + PCA_FILE

_CONV_KEYS = ("features.0", "features.3", "features.6", "features.8", "features.11", "features.13")
_FC_KEYS = ("embeddings.0", "embeddings.2", "embeddings.4")


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix(
    *,
    num_mel: int = NUM_MEL,
    num_bins: int = N_FFT // 2 + 1,
    sr: int = SAMPLE_RATE,
    fmin: float = MEL_MIN_HZ,
    fmax: float = MEL_MAX_HZ,
) -> np.ndarray:
    """Triangular HTK-mel weights, ``(num_bins, num_mel)``, peak 1, DC bin zeroed."""
    bins_mel = _hz_to_mel(np.linspace(0.0, sr / 2.0, num_bins))
    edges = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), num_mel + 2)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lo) / (mid - lo)
    falling = (hi - bins_mel[:, None]) / (hi - mid)
    w = np.maximum(0.0, np.minimum(rising, falling))
    w[0, :] = 0.0
    return w


def log_mel_examples(y: np.ndarray, sr: int, *, hop_s: float = EXAMPLE_S) -> np.ndarray:
    """VGGish input examples of audio.

    Parameters
    ----------
    y : np.ndarray [shape=(N,) or (N, C)]
        Audio samples.
    sr : int
        Sample rate, Hz.
    hop_s : float
        Hop between consecutive 0.96 s examples, seconds (0.96: no overlap).

    Returns
    -------
    np.ndarray [shape=(n_examples, 96, 64)], float32
        Log-mel patches (frames x mel bands); ``n_examples`` may be 0 for audio under ~1 s.
    """
    import librosa
    from scipy.signal import get_window

    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1:
        raise ValueError(f"audio must be (N,) or (N, C), got shape {y.shape}")
    if not hop_s > 0:
        raise ValueError("hop_s must be positive")
    if int(sr) != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=int(sr), target_sr=SAMPLE_RATE)
    win = int(round(WINDOW_S * SAMPLE_RATE))
    hop = int(round(HOP_S * SAMPLE_RATE))
    if y.size < win:
        return np.zeros((0, EXAMPLE_FRAMES, NUM_MEL), np.float32)
    n_frames = 1 + (y.size - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    window = get_window("hann", win)  # periodic (DFT-even), as VGGish's front end
    mag = np.abs(np.fft.rfft(y.astype(np.float64)[idx] * window, n=N_FFT))
    logmel = np.log(mag @ mel_matrix() + LOG_OFFSET)
    ex_hop = max(1, int(round(hop_s / HOP_S)))
    if n_frames < EXAMPLE_FRAMES:
        return np.zeros((0, EXAMPLE_FRAMES, NUM_MEL), np.float32)
    starts = np.arange(0, n_frames - EXAMPLE_FRAMES + 1, ex_hop)
    return np.stack([logmel[s : s + EXAMPLE_FRAMES] for s in starts]).astype(np.float32)


class VGGish(nn.Module):
    """The VGGish network (examples -> 128-D embeddings, before the last ReLU).

    Parameters
    ----------
    channels : tuple of 6 int
        Widths of the six convolutions (standard: 64, 128, 256, 256, 512, 512).
    hidden : tuple of 2 int
        Widths of the two hidden fully connected layers (standard: 4096, 4096).
    embedding_size : int
        Output width (standard: 128).
    """

    def __init__(
        self,
        *,
        channels: tuple[int, ...] = (64, 128, 256, 256, 512, 512),
        hidden: tuple[int, int] = (4096, 4096),
        embedding_size: int = EMBEDDING_SIZE,
    ) -> None:
        super().__init__()
        if len(channels) != 6 or len(hidden) != 2:
            raise ValueError("VGGish needs 6 convolution widths and 2 hidden widths")
        c = channels
        conv = lambda i, o: nn.Conv2d(i, o, kernel_size=3, padding=1)  # noqa: E731
        pool = lambda: nn.MaxPool2d(kernel_size=2, stride=2)  # noqa: E731
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        # Indices match the released state dict: features.{0,3,6,8,11,13} are the convolutions.
        self.features = nn.Sequential(
            conv(1, c[0]), relu(), pool(),
            conv(c[0], c[1]), relu(), pool(),
            conv(c[1], c[2]), relu(), conv(c[2], c[3]), relu(), pool(),
            conv(c[3], c[4]), relu(), conv(c[4], c[5]), relu(), pool(),
        )  # fmt: skip
        flat = c[5] * (EXAMPLE_FRAMES // 16) * (NUM_MEL // 16)
        self.embeddings = nn.Sequential(
            nn.Linear(flat, hidden[0]), nn.ReLU(inplace=True),
            nn.Linear(hidden[0], hidden[1]), nn.ReLU(inplace=True),
            nn.Linear(hidden[1], embedding_size),
        )  # fmt: skip

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        """``(B, 96, 64)`` or ``(B, 1, 96, 64)`` log-mel examples -> ``(B, embedding_size)``."""
        x = examples.unsqueeze(1) if examples.dim() == 3 else examples
        x = self.features(x)  # (B, C, 6, 4)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # TensorFlow's (H, W, C) order
        return self.embeddings(x)


def postprocess(
    embeddings: torch.Tensor, *, eigen_vectors: torch.Tensor, means: torch.Tensor
) -> torch.Tensor:
    """AudioSet-release PCA postprocessing of VGGish embeddings.

    Parameters
    ----------
    embeddings : torch.Tensor [shape=(B, D)]
    eigen_vectors : torch.Tensor [shape=(D, D)]
        PCA matrix; row k is the k-th output direction.
    means : torch.Tensor [shape=(D,)]

    Returns
    -------
    torch.Tensor [shape=(B, D)]
        ``round((clip(P (e - m), -2, 2) + 2) * 255 / 4)``, float values in 0..255.
    """
    pca = (embeddings - means.reshape(1, -1)) @ eigen_vectors.T
    clipped = pca.clamp(QUANTIZE_MIN, QUANTIZE_MAX)
    return torch.round((clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN)))


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: torch.from_numpy(np.asarray(z[k])) for k in z.files}
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path.name} does not hold a state dict (got {type(obj).__name__})")
    return {k: torch.as_tensor(np.asarray(v)) if not torch.is_tensor(v) else v
            for k, v in obj.items()}  # fmt: skip


def _strip_prefix(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in ("module.", "model.", "vggish."):
        if sd and all(k.startswith(prefix) for k in sd if not k.startswith("pproc.")):
            sd = {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in sd.items()}
    return sd


def _pca_from(sd: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor] | None:
    for vec_key, mean_key in (
        ("pca_eigen_vectors", "pca_means"),
        ("pproc.pca_matrix", "pproc.pca_means"),
        ("pca_matrix", "pca_means"),
    ):
        if vec_key in sd and mean_key in sd:
            return sd[vec_key].float(), sd[mean_key].float().reshape(-1)
    return None


class VGGishEmbedder:
    """VGGish with its front end and optional PCA: audio -> per-example embeddings.

    Build with :func:`load_vggish`. ``embed(y, sr)`` returns ``(n_examples, 128)`` float64.
    """

    def __init__(
        self,
        model: VGGish,
        *,
        pca: tuple[torch.Tensor, torch.Tensor] | None = None,
        postprocess: bool = False,
        final_relu: bool = False,
        hop_s: float = EXAMPLE_S,
        device: str = "cpu",
        source: str = "",
    ) -> None:
        if postprocess and pca is None:
            raise ValueError("PCA postprocessing needs the PCA parameters")
        self.model = model.eval().to(device)
        self.pca = pca
        self.postprocess = postprocess
        self.final_relu = final_relu
        self.hop_s = hop_s
        self.device = device
        self.source = source

    @property
    def settings(self) -> dict:
        return {
            "model": "VGGish",
            "weights": self.source,
            "pca_postprocess": self.postprocess,
            "final_relu": self.final_relu,
            "example_hop_s": self.hop_s,
        }

    @torch.inference_mode()
    def embed(self, y: np.ndarray, sr: int, *, batch_size: int = 64) -> np.ndarray:
        """Embeddings of audio, ``(n_examples, D)`` float64 (``(0, D)`` for audio under ~1 s)."""
        ex = log_mel_examples(y, sr, hop_s=self.hop_s)
        out = []
        for i in range(0, len(ex), batch_size):
            x = torch.from_numpy(ex[i : i + batch_size]).to(self.device)
            e = self.model(x)
            if self.final_relu or self.postprocess:
                e = torch.relu(e)  # the released PCA was fitted on post-ReLU embeddings
            if self.postprocess:
                vec, mean = self.pca
                e = postprocess(e, eigen_vectors=vec.to(e), means=mean.to(e))
            out.append(e.double().cpu().numpy())
        width = self.model.embeddings[-1].out_features
        return np.concatenate(out) if out else np.zeros((0, width))


def _resolve(
    spec: str | os.PathLike | None, from_env: Callable[[], str | None], default_name: str
) -> Path | None:
    """A weights file from a path, ``hf://`` spec, env variable, or torch hub's cache."""
    if spec is None:
        spec = from_env()
    if spec is None:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / default_name
        return cached if cached.is_file() else None
    s = str(spec)
    if s.startswith("hf://"):
        parts = s[len("hf://") :].split("/")
        if len(parts) < 3:
            raise FileNotFoundError(f"'{s}': use hf://OWNER/REPO/FILE")
        from huggingface_hub import hf_hub_download

        try:
            return Path(
                hf_hub_download("/".join(parts[:2]), "/".join(parts[2:]), local_files_only=True)
            )
        except Exception as exc:  # noqa: BLE001 - any hub failure means "not in the cache"
            raise FileNotFoundError(f"{s} is not in the Hugging Face cache ({exc})") from None
    p = Path(s).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"VGGish file not found: {p}")
    return p


def load_vggish(
    weights: str | os.PathLike | None = None,
    *,
    pca: str | os.PathLike | None = None,
    postprocess: bool = False,
    final_relu: bool = False,
    hop_s: float = EXAMPLE_S,
    device: str = "cpu",
) -> VGGishEmbedder:
    """Build a :class:`VGGishEmbedder` from weight files (see the module docstring for layouts).

    Parameters
    ----------
    weights : path or ``hf://OWNER/REPO/FILE``, optional
        The network's state dict; searched for when None.
    pca : path, optional
        PCA parameters (needed only with ``postprocess=True`` and when the network file does
        not hold them); searched for when None.
    postprocess, final_relu, hop_s, device
        See :class:`VGGishEmbedder`.

    Raises
    ------
    FileNotFoundError
        No weights file (the message says where to get one).
    ValueError
        A file whose keys or shapes are not VGGish's.
    """
    wpath = _resolve(weights, settings.vggish_weights, WEIGHTS_FILE)
    if wpath is None:
        raise FileNotFoundError(
            f"VGGish weights not found: pass the torchvggish file {WEIGHTS_FILE}"
            f" (download: {WEIGHTS_URL}) with --vggish, or set D2M_VGGISH_WEIGHTS"
        )
    sd = _strip_prefix(_read_tensors(wpath))
    missing = [k + ".weight" for k in _CONV_KEYS + _FC_KEYS if k + ".weight" not in sd]
    if missing:
        raise ValueError(
            f"{wpath.name} is not a VGGish state dict: missing {', '.join(missing[:3])}"
            " (expected torchvggish's features.N / embeddings.N keys)"
        )
    channels = tuple(int(sd[k + ".weight"].shape[0]) for k in _CONV_KEYS)
    hidden = (int(sd["embeddings.0.weight"].shape[0]), int(sd["embeddings.2.weight"].shape[0]))
    model = VGGish(
        channels=channels, hidden=hidden, embedding_size=int(sd["embeddings.4.weight"].shape[0])
    )
    own = {k: v for k, v in sd.items() if k.startswith(("features.", "embeddings."))}
    try:
        model.load_state_dict({k: v.float() for k, v in own.items()}, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{wpath.name}: weights do not fit VGGish ({exc})") from None
    pca_params = _pca_from(sd)
    if postprocess and pca_params is None:
        ppath = _resolve(pca, settings.vggish_pca, PCA_FILE)
        if ppath is None:
            raise FileNotFoundError(
                f"VGGish PCA parameters not found: pass {PCA_FILE} (download: {PCA_URL})"
                " with --vggish-pca, or set D2M_VGGISH_PCA"
            )
        pca_params = _pca_from(_read_tensors(ppath))
        if pca_params is None:
            raise ValueError(f"{ppath.name} has no pca_eigen_vectors / pca_means")
    if pca_params is not None:
        d = model.embeddings[-1].out_features
        vec, mean = pca_params
        if vec.shape != (d, d) or mean.shape != (d,):
            raise ValueError(f"PCA shapes {tuple(vec.shape)}, {tuple(mean.shape)} do not fit {d}")
    return VGGishEmbedder(
        model, pca=pca_params, postprocess=postprocess, final_relu=final_relu, hop_s=hop_s,
        device=device, source=str(wpath),
    )  # fmt: skip
