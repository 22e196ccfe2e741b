"""What an architecture is: a name, its options as one pydantic model (bounds and the one default of each),
and the trainer and sampling network it builds from a GanConfig."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, get_args

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

if TYPE_CHECKING:
    from models.config import GanConfig


class ArchitectureOptions(BaseModel):
    """Every option an architecture takes; the API shows and validates them, the trainer reads them."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def latent_size(default: int) -> Any:
    return Field(default, ge=1, le=1024, description="Size of the noise vector z.")


def network_width(default: int) -> Any:
    return Field(default, ge=1, le=1024, description="Base channel count of both networks.")


def learning_rate(default: float) -> Any:
    return Field(default, gt=0, le=1, description="Adam learning rate of both networks.")


def adam_beta(default: float, which: int) -> Any:
    return Field(default, ge=0, lt=1, description=f"Adam beta{which}.")


class SamplingNetwork(Protocol):
    """What generation needs, and all a registered model holds: a generator without its trainer."""

    def sample(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """Eval-mode, no-grad images in [-1, 1]."""

    def state_dict(self) -> dict[str, torch.Tensor]: ...

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> Any: ...


class GanTrainer(Protocol):
    def sampling_network(self) -> SamplingNetwork:
        """The network a model registers: the EMA generator where there is one."""

    def train_step(self, real: torch.Tensor, labels: torch.Tensor,
                   generator: torch.Generator) -> dict[str, float]: ...

    def state_dict(self) -> dict:
        """Everything resuming needs: networks, optimisers, counters."""

    def load_state_dict(self, state: dict) -> None: ...

    def discriminator_state(self) -> dict[str, torch.Tensor]:
        """D's weights alone, kept beside a registered model so that fine-tunes (FreezeD) start from them."""

    def load_pretrained(self, generator: dict[str, torch.Tensor], discriminator: dict[str, torch.Tensor] | None,
                        keep_classes: bool) -> None:
        """Start from a registered model: its sampling network's weights (and D's, when kept; None: D fresh).
        keep_classes=False: the class-dependent parameters keep their fresh initialisation."""


class Architecture(ABC):
    name: ClassVar[str]
    conditional: ClassVar[bool]
    Options: ClassVar[type[ArchitectureOptions]]
    # Options that change tensor shapes: a fine-tune takes them from its base model.
    shape_options: ClassVar[tuple[str, ...]] = ("resolution", "z_dim", "width")
    # True where a one-class model has no class inputs at all, so it cannot be fine-tuned onto several classes
    # (or the reverse).
    one_class_is_unconditional: ClassVar[bool] = False
    # Options and loop settings (models.config.TrainSettings) whose default differs on a device type from the
    # declared one, which is the CPU's: {"cuda": {"width": 64, "steps": 20_000}}.
    device_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    # What a stored config that lacks an option meant: the values of options added after such models were trained.
    stored_defaults: ClassVar[dict[str, Any]] = {}
    # Where a training checkpoint's trainer state keeps the sampling network's weights.
    sampler_state_key: ClassVar[str] = "generator"
    # True where G is fully convolutional and its samples are at the training images' native scale (e.g. SinGAN):
    # generate jobs then never resample them.
    fully_convolutional: ClassVar[bool] = False
    # True for an unconditional architecture that trains one generator per class in one model: its make_trainer
    # and make_sampler are then built once per class and wrapped (models/architectures/per_class.py).
    per_class: ClassVar[bool] = False
    # True for an image-to-image translator between class 0 (the source) and each other class (a target), e.g.
    # CycleGAN: every minibatch holds batch_size source images and batch_size of one target (targets take turns,
    # models.training._draw_batch), its sampling network translates images instead of sampling noise, and a
    # model of it is a "translator", used by translate jobs rather than generate ones.
    translator: ClassVar[bool] = False
    # True where the trainer learns from whole images it picks itself rather than from minibatches (SinGAN): train_gan
    # hands it the training images once (trainer.use_images(images, labels)), then calls
    # trainer.train_own_step(generator) each step instead of train_step, and batch_size is unused.
    whole_images: ClassVar[bool] = False
    # False where a model cannot start another training (SinGAN learns its own images from scratch): a train job
    # with such a base_model_id is refused at submission.
    fine_tunable: ClassVar[bool] = True
    # Generation options that its sampling network's sample() takes beside z and labels (SinGAN's start_scale and
    # size); a generate job giving one to another architecture is refused.
    sampling_options: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.per_class:
            from models.architectures import per_class

            if "make_trainer" in vars(cls):
                cls.make_trainer = per_class.per_class_trainer(cls.make_trainer)  # type: ignore[method-assign]
            if "make_sampler" in vars(cls):
                cls.make_sampler = per_class.per_class_sampler(cls.make_sampler)  # type: ignore[method-assign]

    @property
    def class_conditional(self) -> bool:
        """Whether its images are of a given class: conditional networks, or one generator per class."""
        return self.conditional or self.per_class

    @property
    def resolutions(self) -> tuple[int, ...]:
        return get_args(self.Options.model_fields["resolution"].annotation)

    @abstractmethod
    def make_trainer(self, config: GanConfig) -> GanTrainer: ...

    @abstractmethod
    def make_sampler(self, config: GanConfig) -> SamplingNetwork:
        """The sampling network alone, freshly initialised, on config.device."""

    def loop_settings(self, config: GanConfig) -> dict[str, Any]:
        """Loop settings (models.config.TrainSettings) that the architecture's own schedule fixes, e.g. SinGAN's
        steps (pyramids x scales x steps per scale): the train job reports them, and train_gan runs them."""
        return {}

    def check_config(self, config: GanConfig) -> None:  # noqa: B027  (an optional hook)
        """Checks that need the whole config, not just the options (ValueError)."""

    def check_sampling(self, config: GanConfig, options: dict[str, Any]) -> None:  # noqa: B027  (an optional hook)
        """Checks generation options (of sampling_options) against a model's config (models.errors.OptionError)."""


def eval_samples(net: nn.Module, forward: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Run `forward()` on `net` in eval mode without gradients, restoring its mode afterwards."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            return forward()
    finally:
        net.train(was_training)
