"""The train job: a dataset -> a generator. Its params are the loop settings, the service's own fields and the
chosen architecture's options, one model per architecture (the union is discriminated on `architecture`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, ValidationError, create_model

from core.errors import InvalidParam
from core.kinds._backbones import INCEPTION, BackboneRef, check_backbone
from core.kinds.base import JobKind, Named, Params, Reference
from core.tables import Backbone, Dataset, RegisteredModel
from models.architectures import architecture_names, get_architecture
from models.config import GanConfig, TrainSettings

DEFAULT_ARCHITECTURE = "cdcgan"


class TrainFields(Params):
    dataset_id: str
    channels: Literal[1, 3] | None = Field(None, description="Default: 1 for a grayscale dataset, else 3; a "
                                                             "fine-tune's base model's.")
    base_model_id: str | None = Field(None, description="Fine-tune from this generator's weights. Same "
                                                        "architecture and channels; its shape options (resolution, "
                                                        "z_dim, width, ...) are the default and may not differ. "
                                                        "The classes may differ.")
    eval_every: int | None = Field(None, ge=1, description="Evaluate every N steps; the model is the best one.")
    eval_metric: Literal["kid", "fid"] = "kid"
    eval_samples: int = Field(500, ge=2, le=50_000, description="Generated images per evaluation.")
    eval_backbone: BackboneRef = INCEPTION


def _params_model(name: str) -> type[Params]:
    options = get_architecture(name).Options
    return create_model(f"TrainParams_{name.replace('-', '_')}", __base__=(TrainFields, TrainSettings, options),
                        architecture=(Literal[name], Field(DEFAULT_ARCHITECTURE if name == DEFAULT_ARCHITECTURE
                                                           else ..., description="The generator architecture.")))


def _architecture_of(value: Any) -> str:
    return value.get("architecture", DEFAULT_ARCHITECTURE) if isinstance(value, dict) else value.architecture


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
                  "eval_backbone": Reference(Backbone, "backbone", frozenset({INCEPTION}))}

    def resolve(self, params: Any, named: Named) -> dict[str, Any]:
        dataset = named["dataset_id"]
        classes = [c["name"] for c in dataset.classes]
        resolved = params.model_dump(mode="json")
        resolved["channels"] = params.channels or (1 if dataset.image_mode == "L" else 3)
        if params.base_model_id:
            resolved.update(_inherited(named["base_model_id"], params, classes))
        try:
            gan_config(resolved, classes)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise InvalidParam([p for p in error["loc"] if p != "options"] or ["architecture"], error["msg"]) from None
        if params.eval_every:
            check_backbone(named, params.eval_backbone, resolved["channels"], "eval_backbone")
        return resolved


def _inherited(base: RegisteredModel, params: Any, classes: list[str]) -> dict[str, Any]:
    """The shape a fine-tune takes from its base model; a request that contradicts it is an InvalidParam."""
    if base.kind != "generator":
        raise InvalidParam("base_model_id", f"model {base.id} is a {base.kind}, not a generator")
    if base.architecture != params.architecture:
        raise InvalidParam("base_model_id", f"cannot fine-tune a {base.architecture} model as {params.architecture}")
    architecture = get_architecture(base.architecture)
    if architecture.one_class_is_unconditional and (len(base.classes) == 1) != (len(classes) == 1):
        raise InvalidParam("base_model_id", f"cannot fine-tune a {len(base.classes)}-class model on {len(classes)} "
                                            f"classes: one-class models are unconditional")
    shape = {"channels": base.channels, "resolution": base.resolution}
    if base.config is not None:  # rows from before configs were recorded hold only these two
        options = GanConfig.from_dict(base.config).options
        shape.update({name: getattr(options, name) for name in architecture.shape_options})
    for name, value in shape.items():
        given = getattr(params, name)
        if name in params.model_fields_set and given is not None and given != value:
            raise InvalidParam(name, f"the base model {base.id} has {name}={value}, not {given}")
    return shape


SPEC = Train()
