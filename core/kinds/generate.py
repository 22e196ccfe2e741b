"""The generate job: a generator -> a batch of labelled images, optionally filtered by a classifier."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from core.errors import InvalidParam
from core.fields import ClassName, ResourceId
from core.kinds.base import JobKind, Named, Params, Reference
from core.tables import Dataset, RegisteredModel
from models.architectures import get_architecture
from models.config import GanConfig
from models.errors import OptionError

# Generation options that only some architectures take: the param's name -> the sampler's option.
SAMPLING_OPTIONS = {"start_scale": "start_scale", "output_size": "size"}


class FilterParams(Params):
    classifier_model_id: ResourceId = Field(description="A classifier model, e.g. the one an augmentation report "
                                                 "registered.")
    mode: Literal["confident", "informative"] | None = Field(
        "informative", description="confident: keep images whose class is predicted with p >= threshold; "
                                   "informative: keep correctly predicted images with p < threshold; "
                                   "null: no class filter.")
    threshold: float = Field(0.9, gt=0, le=1)
    dedupe_against_train: bool = Field(False, description="Drop near-copies of the generator's training images "
                                                          "(the memorisation measure in the classifier's features).")
    dedupe_threshold: float = Field(0.3, gt=0, le=1, description="Near-copy when the distance to the nearest "
                                                                 "training image is below this fraction of the "
                                                                 "typical distance between training images.")
    max_candidates_factor: int = Field(10, ge=1, le=100, description="Generate at most this many times the "
                                                                     "requested count.")

    @model_validator(mode="after")
    def _does_something(self) -> FilterParams:
        if self.mode is None and not self.dedupe_against_train:
            raise ValueError("the filter does nothing: give a mode or dedupe_against_train")
        return self


class GenerateParams(Params):
    model_id: ResourceId
    count_per_class: int | None = Field(None, ge=1, le=100_000)
    counts: dict[ClassName, Annotated[int, Field(ge=0, le=100_000)]] | None = None
    top_up_dataset_id: ResourceId | None = Field(None, description="Counts become targets for real plus generated "
                                                                   "images of this dataset, class by class; with no "
                                                                   "count, the target is the largest class's size.")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    truncation_psi: float = Field(1.0, ge=0, le=2)
    filter: FilterParams | None = None
    size: Literal["native", "model"] = Field(
        "native", description="native: images at the training images' scale. A model trained on random crops makes "
                              "resolution-sized patches that already are; one trained on resized images is "
                              "resampled (bicubic) to its dataset's most common image size. model: at the model's "
                              "resolution. The job's result says which (scale, resampled).")
    start_scale: int | None = Field(None, ge=0, description=(
        "SinGAN models only: the scale generation starts at, counted like the paper (N, the coarsest, is pure "
        "noise and the default; N-1 or finer starts from the training image down-sampled to the next coarser "
        "scale)."))
    output_size: tuple[Annotated[int, Field(ge=1, le=2048)], Annotated[int, Field(ge=1, le=2048)]] | None = Field(
        None, description="SinGAN models only: (width, height) of the images, larger or of another aspect than "
                          "the training image's; default the training image's size.")

    @model_validator(mode="after")
    def _one_count(self) -> GenerateParams:
        if self.count_per_class is not None and self.counts is not None:
            raise ValueError("give at most one of count_per_class and counts")
        if self.count_per_class is None and self.counts is None and self.top_up_dataset_id is None:
            raise ValueError("give count_per_class, counts or top_up_dataset_id")
        if self.counts is not None and not any(self.counts.values()):
            raise ValueError("counts asks for no images")
        return self


def check_generator(model: RegisteredModel, field: str) -> None:
    if model.kind != "generator":
        raise InvalidParam(field, f"model {model.id} is a {model.kind}, not a generator")


class Generate(JobKind):
    name = "generate"
    Params = GenerateParams
    references = {"model_id": Reference(RegisteredModel, "model"),
                  "top_up_dataset_id": Reference(Dataset, "dataset"),
                  "filter.classifier_model_id": Reference(RegisteredModel, "model")}

    def resolve(self, params: GenerateParams, named: Named) -> dict[str, Any]:
        model = named["model_id"]
        check_generator(model, "model_id")
        unknown = sorted(set(params.counts or ()) - set(model.classes))
        if unknown:
            raise InvalidParam("counts", f"classes {unknown} are not among the model's {model.classes}")
        if params.top_up_dataset_id:
            missing = sorted(set(model.classes) - {c["name"] for c in named["top_up_dataset_id"].classes})
            if missing:
                raise InvalidParam("top_up_dataset_id", f"the dataset lacks the model's classes {missing}")
        if params.filter:
            _check_filter(params.filter, model, named)
        _check_sampling_options(params, model)
        return params.model_dump(mode="json")


def _check_sampling_options(params: GenerateParams, model: RegisteredModel) -> None:
    """The architecture's own generation options: given only to an architecture that takes them, and valid for
    the model (its checks see the sampler's names: output_size is the sampler's size)."""
    given = {name: getattr(params, name) for name in SAMPLING_OPTIONS if getattr(params, name) is not None}
    if not given:
        return
    architecture = get_architecture(model.architecture)
    refused = [name for name in given if SAMPLING_OPTIONS[name] not in architecture.sampling_options]
    if refused or model.config is None:
        field = (refused or list(given))[0]
        raise InvalidParam(field, f"model {model.id} ({model.architecture}) takes no {field}")
    try:
        architecture.check_sampling(GanConfig.from_dict(model.config),
                                    {SAMPLING_OPTIONS[name]: value for name, value in given.items()})
    except OptionError as exc:
        field = next(name for name, option in SAMPLING_OPTIONS.items() if option == exc.field)
        raise InvalidParam(field, f"model {model.id}: {exc}") from None


def _check_filter(params: FilterParams, generator: RegisteredModel, named: Named) -> None:
    field = "filter.classifier_model_id"
    classifier = named[field]
    if classifier.kind != "classifier":
        raise InvalidParam(field, f"model {classifier.id} is a {classifier.kind}, not a classifier")
    missing = sorted(set(generator.classes) - set(classifier.classes))
    if missing:
        raise InvalidParam(field, f"the classifier does not know the generator's classes {missing}")
    if params.dedupe_against_train and (
            generator.dataset_id is None or named.session.get(Dataset, generator.dataset_id) is None):
        raise InvalidParam("filter.dedupe_against_train",
                           f"the training images of model {generator.id} are not in this workspace")


SPEC = Generate()
