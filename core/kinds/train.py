"""The train job: a dataset -> a generator. Its params are the loop settings, the service's own fields and the
chosen architecture's options, one model per architecture (the union is discriminated on `architecture`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, ValidationError, create_model

from core.errors import InvalidParam
from core.fields import ResourceId
from core.kinds._backbones import AUTO, NOT_IDS, SIFID_NEEDS_A_MAP, BackboneRef, resolve_backbone
from core.kinds._translation import TranslationFields, translation_classes
from core.kinds.base import JobKind, Named, Params, Reference
from core.kinds.generate import check_generator
from core.tables import Backbone, Dataset, RegisteredModel
from models.architectures import architecture_names, get_architecture
from models.config import GanConfig, TrainSettings
from models.presets import PRESETS
from models.training import fine_tune_differences

DEFAULT_ARCHITECTURE = "cdcgan"
# Textures keep their scale in crops, where resizing 200 px to 64 blurs them: on benchmarks/quality.py's 128 px
# patches, FD ratio 4.20 with random crops against 5.60 resized (docs/quality.md).
DEFAULT_CROP = "random"


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


def _params_model(name: str) -> type[Params]:
    architecture = get_architecture(name)
    fields = (TrainFields, TranslationFields) if architecture.translator else (TrainFields,)
    return create_model(f"TrainParams_{name.replace('-', '_')}",
                        __base__=(*fields, TrainSettings, architecture.Options),
                        architecture=(Literal[name], Field(DEFAULT_ARCHITECTURE if name == DEFAULT_ARCHITECTURE
                                                           else ..., description="The generator architecture.")))


def _architecture_of(value: Any) -> str:
    if not isinstance(value, dict):
        return value.architecture
    preset = PRESETS.get(value.get("preset"))  # type: ignore[arg-type]
    return value.get("architecture", preset.architecture if preset else DEFAULT_ARCHITECTURE)


PARAMS_MODELS = {name: _params_model(name) for name in architecture_names()}
TrainParams = Annotated[
    Union[tuple(Annotated[model, Tag(name)] for name, model in PARAMS_MODELS.items())],  # noqa: UP007
    Discriminator(_architecture_of, custom_error_type="unknown_architecture",
                  custom_error_message=f"unknown architecture; known: {', '.join(architecture_names())}")]


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
        classes = [c["name"] for c in dataset.classes]
        if get_architecture(params.architecture).translator:
            classes = translation_classes(params, dataset, named.get("source_dataset_id"))
            if params.eval_every:
                raise InvalidParam("eval_every", "a translator is not evaluated by FID or KID: leave eval_every out")
        resolved = params.model_dump(mode="json")
        resolved.update(_default_values(params, named.services["settings"].train_device))
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
            raise InvalidParam([p for p in error["loc"] if p != "options"] or ["architecture"], error["msg"]) from None
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
        return resolved


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
