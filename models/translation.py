"""Translating images with a translator model (models.architectures.base.Architecture.translator), and the mask
of what a translation changed.

The mask rule: d = the largest absolute difference over the channels between output and input, in [0, 1]
(a 255-level step is 1); d is averaged over 3x3 neighbourhoods (replicated borders); a pixel is changed where that
average exceeds `threshold`; the changed set is then opened with a 3x3 square (an erosion, then a dilation;
neither reaches beyond the border). So a pixel is in the mask exactly when some 3x3 square of pixels around it
all have a local average difference above the threshold. A lone differing pixel counts only if it differs by
more than 9 x threshold; a one-pixel line of strong change (a thin scratch) survives as a 3-pixel band; a faint
diagonal line, whose average crosses the threshold on the line alone, does not.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
import torchvision.utils
from PIL import Image

from models.architectures import get_architecture
from models.checkpoint import CheckpointError, fitting
from models.cyclegan.networks import MULTIPLE
from models.data import TrainingImages, to_training_range, to_uint8
from models.labels import label_rows
from models.snapshot import read_model

if TYPE_CHECKING:
    from models.config import GanConfig
    from models.cyclegan.trainer import Translator

GRID_COLUMNS = 8
UNCHANGED, CHANGED_EVERYWHERE = "unchanged", "changed_everywhere"


def translate_whole(network: Translator, image: torch.Tensor, target: int, direction: str) -> torch.Tensor:
    """uint8 [C, H, W] -> uint8 [C, H, W]: the whole image at once, padded (replicated) to multiples of 4 for G
    and cropped back."""
    _, h, w = image.shape
    pad_h, pad_w = -h % MULTIPLE, -w % MULTIPLE
    x = to_training_range(image[None])
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return to_uint8(network.translate(x, target, direction))[0, :, :h, :w]


def change_mask(source: torch.Tensor, output: torch.Tensor, threshold: float) -> torch.Tensor:
    """bool [H, W]: where uint8 [C, H, W] `output` differs from `source`, by the rule in the module docstring."""
    d = (output.float() - source.float()).abs().amax(0)[None, None] / 255
    blurred = F.avg_pool2d(F.pad(d, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    changed = (blurred > threshold).float()
    eroded = -F.max_pool2d(-changed, 3, stride=1, padding=1)
    return F.max_pool2d(eroded, 3, stride=1, padding=1)[0, 0].bool()


def change_flag(fraction: float, low: float, high: float) -> str:
    """UNCHANGED below `low` (the identity failure), CHANGED_EVERYWHERE above `high`, else ""."""
    if fraction < low:
        return UNCHANGED
    return CHANGED_EVERYWHERE if fraction > high else ""


@dataclass(frozen=True)
class LoadedTranslator:
    config: GanConfig
    network: Translator

    @property
    def source(self) -> str:
        return self.config.class_names[0]

    @property
    def targets(self) -> list[str]:
        return self.config.class_names[1:]


def load_translator(blob: bytes, device: str = "cpu") -> LoadedTranslator:
    """A registered translator model, ready to translate; CheckpointError for anything else."""
    model = read_model(blob)
    architecture = get_architecture(model.config.architecture)
    if not architecture.translator:
        raise CheckpointError(f"a {model.config.architecture} model is not a translator")
    network = architecture.make_sampler(model.config.replace(device=device))
    with fitting("the model's translator"):
        network.load_state_dict(model.generator)
    return LoadedTranslator(model.config, network)  # type: ignore[arg-type]


class TranslationGrid:
    """A training run's sample grid: for each target, fixed crops of source images, their translation and its
    translation back (the reconstruction), one row each."""

    def __init__(self, config: GanConfig, network: Translator, images: TrainingImages, labels: torch.Tensor) -> None:
        picked = (labels == 0).nonzero()[:GRID_COLUMNS, 0]
        crops = images.batch(picked, torch.Generator(device=labels.device).manual_seed(config.seed))
        self.source = to_training_range(crops)
        self.network = network
        self.targets = config.num_classes - 1
        self.gray = config.channels == 1
        source, targets = config.class_names[0], config.class_names[1:]
        self.row_names = [name for target in targets for name in (source, f"-> {target}", f"-> {target} -> back")]

    def png(self) -> bytes:
        rows = []
        for k in range(self.targets):
            translated = self.network.translate(self.source, k, "forward")
            rows += [self.source, translated, self.network.translate(translated, k, "backward")]
        padding = 2
        grid = torchvision.utils.make_grid(to_uint8(torch.cat(rows)).cpu(), nrow=len(self.source), padding=padding)
        image = Image.fromarray(grid[0].numpy() if self.gray else grid.permute(1, 2, 0).numpy())
        out = io.BytesIO()
        label_rows(image, self.row_names, self.source.shape[-2] + padding, top=padding).save(out, format="PNG")
        return out.getvalue()
