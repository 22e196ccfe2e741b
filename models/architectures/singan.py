"""SinGAN: one model of several single-image pyramids (models/singan/). Its schedule fixes the loop's settings:
steps = pyramids x scales x steps_per_scale, a sample grid after every scale, checkpoints at least between
scales. batch_size is unused: every step trains on one image."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from models.architectures import register
from models.architectures.base import Architecture, ArchitectureOptions, adam_beta, learning_rate
from models.errors import OptionError
from models.singan.networks import SEED_DIM, SinGANSampler
from models.singan.pyramid import RECEPTIVE_FIELD, scale_count, scale_sizes
from models.singan.trainer import SinGANTrainer, make_sampler

if TYPE_CHECKING:
    from models.config import GanConfig


class SinGANOptions(ArchitectureOptions):
    resolution: Literal[32, 64, 128, 256] = Field(64, description=(
        "Short side of the finest scale: each picked image is resized to it (with crop=random keeping its aspect)."))
    min_size: int = Field(25, ge=RECEPTIVE_FIELD + 1, le=256, description="Short side of the coarsest scale.")
    scale_factor: float = Field(0.75, ge=0.5, lt=1, description=(
        "Size ratio between neighbouring scales (adjusted slightly so that the coarsest is min_size)."))
    width: int = Field(32, ge=1, le=256, description="Channels of the coarsest scales' networks, doubling every "
                                                     "4 scales.")
    alpha: float = Field(10.0, ge=0, allow_inf_nan=False, description="Weight of the reconstruction loss.")
    steps_per_scale: int = Field(2000, ge=1, le=100_000, description=(
        "Iterations per scale (each 3 D and 3 G steps). The job's steps are set to pyramids x scales x this."))
    lr: float = learning_rate(5e-4)
    beta1: float = adam_beta(0.5, 1)
    beta2: float = adam_beta(0.999, 2)
    images_per_class: int = Field(1, ge=1, le=16, description=(
        "Images picked per class (seeded), each learnt by a pyramid of its own; generation spreads a class's "
        "images over them."))

    @property
    def z_dim(self) -> int:
        """The length of the noise vector SamplingNetwork.sample takes (it seeds the spatial noise)."""
        return SEED_DIM


def scales(config: GanConfig) -> int:
    o = config.options
    return scale_count(o.resolution, o.min_size, o.scale_factor)  # type: ignore[attr-defined]


@register
class SinGAN(Architecture):
    """A pyramid of patch GANs per picked image; each class's images come from its own pyramids."""

    name = "singan"
    conditional = True
    Options = SinGANOptions
    shape_options = ("resolution", "width", "min_size", "scale_factor", "images_per_class")
    fully_convolutional = True
    whole_images = True
    fine_tunable = False
    sampling_options = ("start_scale", "size")

    def make_trainer(self, config: GanConfig) -> SinGANTrainer:  # type: ignore[override]
        return SinGANTrainer(config)

    def make_sampler(self, config: GanConfig) -> SinGANSampler:
        return make_sampler(config)

    def loop_settings(self, config: GanConfig) -> dict[str, Any]:
        k = config.options.steps_per_scale  # type: ignore[attr-defined]
        total = config.num_classes * config.options.images_per_class * scales(config) * k  # type: ignore[attr-defined]
        return {"steps": total, "sample_every": k,
                "checkpoint_every": config.checkpoint_every if k % config.checkpoint_every == 0 else k}

    def check_config(self, config: GanConfig) -> None:
        o = config.options
        if o.min_size > o.resolution:  # type: ignore[attr-defined]
            raise OptionError("min_size", f"min_size {o.min_size} exceeds the resolution "  # type: ignore[attr-defined]
                                          f"{o.resolution}")
        from models.config import TrainSettings  # it imports the architectures

        bound = next(m.le for m in TrainSettings.model_fields["steps"].metadata if hasattr(m, "le"))
        if (steps := self.loop_settings(config)["steps"]) > bound:
            raise OptionError("steps_per_scale", f"classes x images_per_class x scales x steps_per_scale = {steps} "
                                                 f"exceeds {bound}")

    def check_sampling(self, config: GanConfig, options: dict[str, Any]) -> None:
        count = scales(config)
        if options.get("start_scale") is not None and options["start_scale"] >= count:
            raise OptionError("start_scale", f"the model has scales N={count - 1} (coarsest) to 0")
        if options.get("size") is not None:
            width, height = options["size"]
            o = config.options
            coarsest = scale_sizes(height, width, count, o.resolution, o.min_size)[0]  # type: ignore[attr-defined]
            if min(coarsest) < RECEPTIVE_FIELD:
                raise OptionError("size", f"too small: its coarsest scale would be {coarsest[::-1]} px, "
                                          f"under {RECEPTIVE_FIELD}")
