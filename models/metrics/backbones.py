"""Feature extractors ("backbones") for the generator-quality metrics.

Inception: the TF-ported Inception-v3 that FID is defined on (the 2015-12-05 graph), built from
torch-fidelity's FeatureExtractorInceptionV3 with the weights an operator imported once (the ``.pth`` state
dict that torch-fidelity and pytorch-fid load, or the same tensors as safetensors). Nothing is downloaded.
Images are uint8 [N, C, H, W]; grayscale is repeated to 3 channels; torch-fidelity resizes to 299x299 the way
TensorFlow 1.x did. Features are the 2048-d pool features; logits (without the fc bias, as torch-fidelity uses
for the Inception Score) come with them.

Domain backbones: a TorchScript module imported by a workspace. It receives uint8 [N, in_channels, H, W]
images (0-255, at their stored resolution) and does its own resizing and normalisation, like torch-fidelity's
feature extractors; it must return [N, D] floating-point features.

Every backbone returns float64 features on the CPU and has a stable ``fingerprint`` (sha256) for cache keys.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from models.metrics.errors import MetricsError
from models.monitor import SILENT, Monitor

INCEPTION_NAME = "inception-v3-fid"
INCEPTION_FEATURE_DIM = 2048
INCEPTION_NUM_LOGITS = 1008
# Images per forward pass: on the CPU, small batches keep Inception's 299x299 activations cache-friendly
# (16 runs ~2x faster per image than 32 on a 2-core machine); accelerators want larger ones.
CPU_BATCH_SIZE = 16
ACCELERATOR_BATCH_SIZE = 64
# Bumped when what a fingerprint stands for changes (preprocessing, the way it is hashed), so that feature
# statistics cached under an old fingerprint are not reused.
_FINGERPRINT_VERSION = b"defectgen-backbone/1\0"


class Backbone(ABC):
    """Maps uint8 images [N, C, H, W] to float64 features [N, feature_dim] (CPU), batched, under inference mode.
    The feature methods report (images done, images in all) to `monitor` after every batch and check it before."""

    name: str
    fingerprint: str
    feature_dim: int
    in_channels: int
    has_logits: bool = False

    def __init__(self, device: str | torch.device, batch_size: int | None) -> None:
        self.device = torch.device(device)
        if batch_size is None:
            batch_size = CPU_BATCH_SIZE if self.device.type == "cpu" else ACCELERATOR_BATCH_SIZE
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size

    def features(self, images: torch.Tensor, *, batch_size: int | None = None,
                 monitor: Monitor = SILENT) -> torch.Tensor:
        return self._extract(images, batch_size, monitor, want_logits=False)[0]

    def features_and_logits(self, images: torch.Tensor, *, batch_size: int | None = None,
                            monitor: Monitor = SILENT) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.has_logits:
            raise MetricsError(f"backbone {self.name!r} has no classifier logits (the Inception Score needs Inception)")
        features, logits = self._extract(images, batch_size, monitor, want_logits=True)
        assert logits is not None
        return features, logits

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, feature_dim={self.feature_dim}, " \
               f"fingerprint={self.fingerprint[:12]}…)"

    @abstractmethod
    def _run(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 [B, in_channels, H, W] on self.device -> (features [B, D], logits [B, K] or None)."""

    def _extract(self, images: torch.Tensor, batch_size: int | None, monitor: Monitor,
                 want_logits: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        images = self._check_images(images)
        n = images.shape[0]
        batch_size = batch_size or self.batch_size
        features = torch.empty(n, self.feature_dim, dtype=torch.float64)
        logits = torch.empty(n, INCEPTION_NUM_LOGITS, dtype=torch.float64) if want_logits else None
        with torch.inference_mode(), _exact_fp32(self.device):
            for start in range(0, n, batch_size):
                monitor.check()
                batch = images[start:start + batch_size].to(self.device)
                if batch.shape[1] == 1 and self.in_channels == 3:
                    batch = batch.expand(-1, 3, -1, -1)
                out, out_logits = self._run(batch)
                end = start + batch.shape[0]
                features[start:end] = self._check_output(out, batch.shape[0], self.feature_dim, "features")
                if logits is not None:
                    if out_logits is None:
                        raise MetricsError(f"backbone {self.name!r} returned no logits")
                    logits[start:end] = self._check_output(out_logits, batch.shape[0], INCEPTION_NUM_LOGITS,
                                                           "logits")
                monitor.report(end, n)
        return features, logits

    def _check_images(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise MetricsError("images must be a uint8 tensor [N, C, H, W]")
        channels = images.shape[1]
        if channels != self.in_channels and not (channels == 1 and self.in_channels == 3):
            raise MetricsError(f"backbone {self.name!r} takes {self.in_channels}-channel images, got {channels}")
        return images

    def _check_output(self, out: torch.Tensor, rows: int, dim: int, what: str) -> torch.Tensor:
        if not isinstance(out, torch.Tensor) or not out.is_floating_point() or tuple(out.shape) != (rows, dim):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise MetricsError(f"backbone {self.name!r} returned {what} of shape {shape}, expected ({rows}, {dim})")
        out = out.detach().to("cpu", torch.float64)
        if not torch.isfinite(out).all():
            raise MetricsError(f"backbone {self.name!r} returned non-finite {what}")
        return out


class InceptionBackbone(Backbone):
    has_logits = True
    in_channels = 3
    feature_dim = INCEPTION_FEATURE_DIM

    def __init__(self, module: nn.Module, fingerprint: str, device: str | torch.device, batch_size: int | None,
                 fast: bool) -> None:
        super().__init__(device, batch_size)
        self.name = INCEPTION_NAME
        self.fingerprint = fingerprint
        self.fast = fast
        self.module = module.to(self.device)
        if fast:
            self.module = self.module.to(memory_format=torch.channels_last)

    def _run(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.fast:
            batch = batch.contiguous(memory_format=torch.channels_last)
        features, logits = self.module(batch)
        return features, logits


class TorchScriptBackbone(Backbone):
    def __init__(self, module: torch.jit.ScriptModule, name: str, fingerprint: str, in_channels: int,
                 device: str | torch.device, batch_size: int | None, probe_size: int) -> None:
        super().__init__(device, batch_size)
        self.name = name
        self.fingerprint = fingerprint
        self.in_channels = in_channels
        self.module = module
        probe = torch.zeros(2, in_channels, probe_size, probe_size, dtype=torch.uint8, device=self.device)
        try:
            with torch.inference_mode():
                out = module(probe)
        except Exception as exc:  # noqa: BLE001  (anything the scripted code raises)
            raise MetricsError(f"TorchScript backbone failed on a probe batch of {tuple(probe.shape)} uint8 images: "
                               f"{exc}") from None
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 2 or not out.is_floating_point():
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise MetricsError(f"TorchScript backbone must return floating-point features [N, D]; got {shape} "
                               f"for N=2")
        self.feature_dim = int(out.shape[1])

    def _run(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.module(batch), None


def load_inception(weights: bytes | str | Path, *, device: str | torch.device = "cpu",
                   batch_size: int | None = None, fast: bool = True) -> InceptionBackbone:
    """The FID Inception-v3 from a weights file (path or bytes): torch-fidelity's / pytorch-fid's ``.pth`` state
    dict, read with ``torch.load(weights_only=True)`` (which cannot run code), or a safetensors file.

    fast=True folds each BatchNorm into its convolution and runs channels-last: about twice the CPU throughput,
    features within ~1e-6 relative of torch-fidelity's (benchmarks/features.py). fast=False runs torch-fidelity's
    module unchanged.
    """
    state = canonical_state_dict(read_state_dict(weights))
    fingerprint = state_dict_fingerprint(state)
    module = _build_inception(state)
    if fast:
        _fold_batchnorm(module)
    return InceptionBackbone(module, fingerprint, device, batch_size, fast)


def load_torchscript(blob: bytes | str | Path, *, name: str = "torchscript", in_channels: int = 3,
                     device: str | torch.device = "cpu", batch_size: int | None = None,
                     probe_size: int = 64) -> TorchScriptBackbone:
    """A domain backbone from a TorchScript archive (bytes or path). TorchScript runs no arbitrary Python.

    The module gets uint8 [N, in_channels, H, W] (grayscale images are repeated when in_channels is 3) and must
    return floating-point [N, D]. It is probed once with zeros [2, in_channels, probe_size, probe_size] to learn D.
    The fingerprint is the sha256 of the archive.
    """
    if in_channels not in (1, 3):
        raise MetricsError("in_channels must be 1 or 3")
    data = Path(blob).read_bytes() if isinstance(blob, (str, Path)) else bytes(blob)
    try:
        with warnings.catch_warnings():
            # torch.jit is deprecated in favour of torch.export, but still what a TorchScript archive needs.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(io.BytesIO(data), map_location=torch.device(device))
    except Exception as exc:  # noqa: BLE001  (torch raises RuntimeError and others for a bad archive)
        raise MetricsError(f"not a TorchScript archive: {exc}") from None
    module.eval()
    fingerprint = _versioned_sha256(b"torchscript\0" + data)
    return TorchScriptBackbone(module, name, fingerprint, in_channels, device, batch_size, probe_size)


def read_state_dict(weights: bytes | str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file or a PyTorch state dict, never unpickling anything but tensors."""
    data = Path(weights).read_bytes() if isinstance(weights, (str, Path)) else bytes(weights)
    try:
        if _looks_like_safetensors(data):
            state = safetensors.torch.load(data)
        else:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (UnpicklingError, RuntimeError, EOFError, SafetensorError...)
        raise MetricsError(f"not a safetensors file or a PyTorch state dict of tensors: {exc}") from None
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise MetricsError("the weights file must hold a flat mapping of names to tensors (a state dict)")
    return dict(state)


def canonical_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float32, contiguous, CPU, sorted by key; BatchNorm's num_batches_tracked (unused in eval) dropped."""
    out = {}
    for key in sorted(state):
        if key.endswith("num_batches_tracked"):
            continue
        tensor = state[key]
        if not tensor.is_floating_point():
            raise MetricsError(f"weight {key!r} is not floating point ({tensor.dtype})")
        out[key] = tensor.detach().to("cpu", torch.float32).contiguous()
    return out


def state_dict_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in key order: the same for the same weights
    whatever file format carried them."""
    digest = hashlib.sha256(_FINGERPRINT_VERSION)
    for key in sorted(state):
        tensor = state[key].detach().to("cpu").contiguous()
        digest.update(json.dumps([key, str(tensor.dtype), list(tensor.shape)]).encode() + b"\0")
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _versioned_sha256(data: bytes) -> str:
    return hashlib.sha256(_FINGERPRINT_VERSION + data).hexdigest()


def _looks_like_safetensors(data: bytes) -> bool:
    if len(data) < 10:
        return False
    header_len = int.from_bytes(data[:8], "little")
    return 0 < header_len <= len(data) - 8 and data[8:9] == b"{"


def _build_inception(state: dict[str, torch.Tensor]) -> nn.Module:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    # torch-fidelity reads weights with torch.load(weights_only=False). It gets a buffer that we wrote from the
    # tensors validated above, so nothing from the operator's file is ever unpickled by it.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    try:
        module = FeatureExtractorInceptionV3(INCEPTION_NAME, ["2048", "logits_unbiased"],
                                             feature_extractor_weights_path=buffer)
    except RuntimeError as exc:  # load_state_dict: missing or unexpected keys, wrong shapes
        raise MetricsError(f"the weights are not the FID Inception-v3's: {exc}") from None
    return module.eval().requires_grad_(False)


def _fold_batchnorm(module: nn.Module) -> None:
    """Fold every BatchNorm into the convolution before it (torch-fidelity's BasicConv2d: conv -> bn -> relu)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for block in module.modules():
        conv, bn = getattr(block, "conv", None), getattr(block, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            block.conv = fuse_conv_bn_eval(conv, bn)
            block.bn = nn.Identity()


@contextlib.contextmanager
def _exact_fp32(device: torch.device) -> Iterator[None]:
    """On CUDA, convolutions in true float32 (no TF32) while features are extracted, as on the CPU."""
    if device.type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    saved = cudnn.allow_tf32
    cudnn.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.allow_tf32 = saved
