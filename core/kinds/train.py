"""The train job: a dataset -> a generator. Its params are the loop settings, the service's own fields and the
chosen architecture's options, one model per architecture (the union is discriminated on `architecture`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Discriminator, Field, Tag, ValidationError, create_model

from core.db import workspace_row
from core.errors import InvalidParam
from core.fields import ResourceId
from core.kinds._backbones import AUTO, NOT_IDS, SIFID_NEEDS_A_MAP, BackboneRef, resolve_backbone
from core.kinds._classifiers import ClassifierName
from core.kinds._translation import TranslationFields, translation_classes
from core.kinds.base import JobKind, Named, Params, Reference
from core.kinds.generate import check_generator
from core.splits import DEFAULT_TEST_FRACTION, held_out_count
from core.storage_keys import checkpoint_key
from core.tables import Backbone, Dataset, Job, RegisteredModel
from models.architectures import architecture_names, get_architecture
from models.config import GanConfig, TrainSettings
from models.errors import OptionError
from models.presets import PRESETS
from models.training import fine_tune_differences

DEFAULT_ARCHITECTURE = "cdcgan"
# A few-shot set trains the SinGAN recipe instead. On benchmarks/quality.py's alike photographs (8 classes of 10
# images) cdcgan's images lowered a classifier's accuracy by 9.6 points; the recipe's did not (+0.035, +0.002 and
# -0.003 in three draws: no harm, no proven gain), and they show the textures (docs/quality.md). SinGAN learns 2
# images a class, which wastes larger classes; its cost grows with the classes (8 trained in 11-15 minutes on one
# core, within the CPU budget); the recipe's resolution is 64 px. Outside those bounds, and on a GPU service (the
# recipe is sized for a CPU, and SinGAN has not run on CUDA), cdcgan stays.
FEW_SHOT_RECIPE = "few-shot-textures"
FEW_SHOT_IMAGES = 16
FEW_SHOT_CLASSES = 8
ARCHITECTURE_HELP = (
    f"The generator architecture. A request that gives only service fields (dataset_id, seed, holdout, eval_*, "
    f"max_minutes, ...) and no architecture, preset, option or loop setting trains {DEFAULT_ARCHITECTURE}, except "
    f"on a few-shot set (at most {FEW_SHOT_CLASSES} classes of at most {FEW_SHOT_IMAGES} images, none under 64 px a "
    f"side) on a CPU service, which trains preset {FEW_SHOT_RECIPE}.")
# Textures keep their scale in crops, where resizing 200 px to 64 blurs them: on benchmarks/quality.py's 128 px
# patches, FD ratio 4.20 with random crops against 5.60 resized (docs/quality.md).
DEFAULT_CROP = "random"
# What a job that continues another may set otherwise: none of them alters the training trajectory.
CONTINUABLE_CHANGES = {"steps", "sample_every", "checkpoint_every", "max_minutes", "keep_checkpoint",
                       "continue_from_job_id"}


class Holdout(Params):
    fraction: float = Field(DEFAULT_TEST_FRACTION, gt=0, lt=1, description="Share of each class held out.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the stratified split.")
    num_samples: int = Field(256, ge=2, le=50_000, description="Generated images scored against them.")


class UpliftCheck(Params):
    """An augmentation report in brief: a classifier trained on real images alone and on real + synthetic ones."""

    synthetic_per_class: int = Field(100, ge=1, le=10_000)
    classifier: ClassifierName = "small-cnn"
    epochs: int = Field(5, ge=1, le=100)
    repeats: int = Field(3, ge=1, le=10)


class TrainFields(Params):
    dataset_id: ResourceId
    preset: Literal[tuple(PRESETS)] | None = Field(  # type: ignore[valid-type]
        None, description="A named recipe whose architecture, options and settings apply where the request gives "
                          "none: " + "; ".join(f"{name}: {p.description}" for name, p in PRESETS.items()))
    channels: Literal[1, 3] | None = Field(None, description="Default: 1 for a grayscale dataset, else 3; a "
                                                             "fine-tune's base model's.")
    base_model_id: ResourceId | None = Field(None, description="Fine-tune from this generator's weights. Same "
                                                        "architecture and channels; its shape options (resolution, "
                                                        "z_dim, width, ...) are the default and may not differ. "
                                                        "The classes may differ.")
    crop: Literal["random", "resize"] = Field(
        DEFAULT_CROP, description="random: each minibatch takes a random resolution x resolution crop of each "
                                  "image at its native size (smaller images upscaled to the resolution, larger "
                                  "than 4x it downscaled to 4x), so textures keep their scale and generated "
                                  "images are patches at native scale; resize: each whole image is resized to "
                                  "the resolution.")
    eval_every: int | None = Field(None, ge=1, description="Evaluate every N steps; the model is the best one.")
    eval_metric: Literal["kid", "fid", "sifid"] = Field("kid", description=(
        "sifid: each generated image against its own training image (SinGAN) or a real image of its class; needs "
        "Inception or a backbone with a spatial map."))
    eval_samples: int = Field(500, ge=2, le=50_000, description="Generated images per evaluation.")
    eval_backbone: BackboneRef = None
    holdout: Holdout | None = Field(None, description=(
        "Train on the training part of a stratified, seeded split of each class, and score the model against the "
        "held-out part at the end (result.holdout: KID and FID in the auto backbone, diversity, and the share of "
        "near-copies of training images): what a sweep ranks its candidates by. Needs 2 classes."))
    holdout_uplift: UpliftCheck | None = Field(None, description=(
        "With holdout: also score the model's uplift (result.holdout.uplift), the accuracy that synthetic_per_class "
        "of its images per class add to a classifier trained on the training part alone, tested on the held-out "
        "part: the mean paired difference over repeats, with its 95% interval and p value."))
    max_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60, description=(
        "Stop training after this many minutes (counted per attempt) and register the model of the step reached."))
    keep_checkpoint: bool = Field(False, description=(
        "Keep the final training checkpoint after the job succeeds (for JOB_STATE_RETENTION_SECONDS), so that a "
        "later train job can continue it (continue_from_job_id)."))
    continue_from_job_id: ResourceId | None = Field(None, description=(
        "Continue the training of this succeeded train job, which kept its checkpoint, to more steps: the same "
        "params except " + ", ".join(sorted(CONTINUABLE_CHANGES - {"continue_from_job_id"})) + ". On CPU the "
        "result is bit-identical to one job trained that long."))


def _params_model(name: str) -> type[Params]:
    architecture = get_architecture(name)
    fields = (TrainFields, TranslationFields) if architecture.translator else (TrainFields,)
    return create_model(f"TrainParams_{name.replace('-', '_')}",
                        __base__=(*fields, TrainSettings, architecture.Options),
                        architecture=(Literal[name], Field(DEFAULT_ARCHITECTURE if name == DEFAULT_ARCHITECTURE
                                                           else ..., description=ARCHITECTURE_HELP)))


def _architecture_of(value: Any) -> str:
    if not isinstance(value, dict):
        return getattr(value, "architecture", None)  # None: not params at all, which the union refuses
    name = value.get("preset")
    preset = PRESETS.get(name) if isinstance(name, str) else None  # a preset that is no name: the union says why
    return value.get("architecture", preset.architecture if preset else DEFAULT_ARCHITECTURE)


def _preset_architecture(value: Any) -> Any:
    """A request that names a preset and no architecture trains the preset's architecture."""
    if isinstance(value, dict) and "architecture" not in value and isinstance(value.get("preset"), str):
        preset = PRESETS.get(value["preset"])
        if preset is not None:
            return {**value, "architecture": preset.architecture}
    return value


PARAMS_MODELS = {name: _params_model(name) for name in architecture_names()}
TrainParams = Annotated[
    Union[tuple(Annotated[model, Tag(name)] for name, model in PARAMS_MODELS.items())],  # noqa: UP007
    Discriminator(_architecture_of, custom_error_type="unknown_architecture",
                  custom_error_message=f"unknown architecture; known: {', '.join(architecture_names())}"),
    BeforeValidator(_preset_architecture)]


def option_names(architecture: str) -> list[str]:
    return list(get_architecture(architecture).Options.model_fields)


def gan_config(params: Any, class_names: list[str], device: str = "cpu") -> GanConfig:
    """The GanConfig a resolved train job trains; raises pydantic's ValidationError."""
    values = params if isinstance(params, dict) else params.model_dump()
    return GanConfig(architecture=values["architecture"], channels=values["channels"], class_names=class_names,
                     device=device, options={name: values[name] for name in option_names(values["architecture"])},
                     **{name: values[name] for name in TrainSettings.model_fields})


class Train(JobKind):
    name = "train"
    Params = TrainParams
    references = {"dataset_id": Reference(Dataset, "dataset"), "base_model_id": Reference(RegisteredModel, "model"),
                  "eval_backbone": Reference(Backbone, "backbone", NOT_IDS),
                  "source_dataset_id": Reference(Dataset, "dataset")}

    def resolve(self, params: Any, named: Named) -> dict[str, Any]:
        dataset = named["dataset_id"]
        device = named.services["settings"].train_device
        if device == "cpu" and chooses_nothing(params) and is_few_shot(dataset):
            params = self.adapter.validate_python({**params.model_dump(include=params.model_fields_set),
                                                   "preset": FEW_SHOT_RECIPE})
        classes = [c["name"] for c in dataset.classes]
        if get_architecture(params.architecture).translator:
            classes = translation_classes(params, dataset, named.get("source_dataset_id"))
            if params.eval_every:
                raise InvalidParam("eval_every", "a translator is not evaluated by FID or KID: leave eval_every out")
        resolved = params.model_dump(mode="json")
        resolved.update(_default_values(params, device))
        resolved["channels"] = params.channels or (1 if dataset.image_mode == "L" else 3)
        base = named.get("base_model_id")
        if base is not None:
            check_generator(base, "base_model_id")
            if not get_architecture(params.architecture).fine_tunable:
                raise InvalidParam("base_model_id", f"a {params.architecture} model cannot be fine-tuned: it learns "
                                                    "its own training images from scratch")
            resolved.update(_inherited(base, params))
        try:
            config = gan_config(resolved, classes)
        except ValidationError as exc:
            error = exc.errors()[0]
            cause = (error.get("ctx") or {}).get("error")
            field = [cause.field] if isinstance(cause, OptionError) else [p for p in error["loc"] if p != "options"]
            raise InvalidParam(field or ["architecture"], error["msg"]) from None
        resolved.update(get_architecture(config.architecture).loop_settings(config))  # e.g. SinGAN's steps
        if base is not None and base.config is not None:  # rows from before configs were recorded: the worker checks
            for name, theirs, mine in fine_tune_differences(GanConfig.from_dict(base.config), config):
                # a given shape option contradicts the base; another architecture or conditioning is the base's
                raise InvalidParam("base_model_id" if name in ("architecture", "conditioning") else name,
                                   f"the base model {base.id} has {name}={theirs}, not {mine}")
        if params.eval_every:
            resolved["eval_backbone"] = resolve_backbone(named, params.eval_backbone, resolved["channels"],
                                                         len(classes), "eval_backbone")
            if params.eval_metric == "sifid" and resolved["eval_backbone"] == AUTO:
                raise InvalidParam("eval_backbone", SIFID_NEEDS_A_MAP)
        if params.holdout is not None:
            _check_holdout(params, dataset)
        elif params.holdout_uplift is not None:
            raise InvalidParam("holdout_uplift", "the uplift is scored on the held-out images: give holdout too")
        if params.continue_from_job_id is not None:  # not a Reference: nothing blocks deleting a job, none is deleted
            earlier = workspace_row(named.session, Job, named.workspace_id, params.continue_from_job_id)
            if earlier is None:
                raise InvalidParam("continue_from_job_id", f"job {params.continue_from_job_id!r} does not exist in "
                                                           "this workspace")
            _check_continuation(earlier, resolved, named.services["store"])
        return resolved


# What a request may give and still leave the generator to the service: no architecture, preset, option or loop
# setting, and no model to start from.
_NEUTRAL_FIELDS = set(TrainFields.model_fields) - {"preset", "base_model_id", "continue_from_job_id"} | {"seed"}


def chooses_nothing(params: Any) -> bool:
    return {name for name in params.model_fields_set if getattr(params, name) is not None} <= _NEUTRAL_FIELDS


def is_few_shot(dataset: Dataset) -> bool:
    preset = PRESETS[FEW_SHOT_RECIPE]
    return (len(dataset.classes) <= FEW_SHOT_CLASSES and min(dataset.min_size) >= preset.values["resolution"]
            and max(c["count"] for c in dataset.classes) <= FEW_SHOT_IMAGES)


def _check_holdout(params: Any, dataset: Dataset) -> None:
    if get_architecture(params.architecture).translator:
        raise InvalidParam("holdout", "a translator is not scored against held-out images")
    if len(dataset.classes) < 2:
        raise InvalidParam("holdout", "held-out scores are measured in the auto backbone, which needs 2 classes")
    fraction = params.holdout.fraction
    empty = [c["name"] for c in dataset.classes if held_out_count(c["count"], fraction) in (0, c["count"])]
    if empty:
        raise InvalidParam(["holdout", "fraction"], f"a stratified split with fraction={fraction} leaves no "
                                                    f"held-out or no training images of classes {empty}")


def _check_continuation(earlier: Job, resolved: dict[str, Any], store: Any) -> None:
    field = "continue_from_job_id"
    if earlier.kind != "train" or not earlier.params.get("keep_checkpoint"):
        raise InvalidParam(field, f"job {earlier.id} is not a train job that kept its checkpoint")
    if earlier.status != "succeeded" or not store.exists(checkpoint_key(earlier.id)):
        raise InvalidParam(field, f"job {earlier.id} has no checkpoint to continue: it is {earlier.status}, and a "
                                  "kept checkpoint is removed after the retention period")
    differ = sorted(k for k in set(resolved) | set(earlier.params)
                    if k not in CONTINUABLE_CHANGES and resolved.get(k) != earlier.params.get(k))
    if differ:
        raise InvalidParam(differ[0], f"a continuation trains with the settings of job {earlier.id}; it has "
                                      f"{differ[0]}={earlier.params.get(differ[0])!r}")
    reached = (earlier.result or {}).get("step", 0)
    if resolved["steps"] <= reached:
        raise InvalidParam("steps", f"job {earlier.id} already trained {reached} steps: continue to more")


def _default_values(params: Any, device: str) -> dict[str, Any]:
    """What the request leaves out and its preset, else the training device, gives a value other than the
    declared default."""
    values = dict(get_architecture(params.architecture).device_defaults.get(device, {}))
    if params.preset is not None:
        preset = PRESETS[params.preset]
        if params.architecture != preset.architecture:
            raise InvalidParam("preset", f"{params.preset} is a {preset.architecture} recipe, "
                                         f"not {params.architecture}")
        values.update(preset.values)
    return {name: value for name, value in values.items() if name not in params.model_fields_set}


def _inherited(base: RegisteredModel, params: Any) -> dict[str, Any]:
    """The shape options a fine-tune takes from its base model where the request does not give them."""
    shape = {"channels": base.channels, "resolution": base.resolution}
    if base.config is not None and base.architecture == params.architecture:
        options = GanConfig.from_dict(base.config).options
        shape.update({name: getattr(options, name) for name in get_architecture(base.architecture).shape_options})
    return {name: value for name, value in shape.items()
            if name not in params.model_fields_set or getattr(params, name) is None}


SPEC = Train()
