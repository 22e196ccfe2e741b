"""Job submission bodies (validated per kind) and the job resource."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.common import Out
from models.classifiers import classifier_names
from models.metrics.registry import metric_names
from models.registry import architecture_names, get_architecture

INCEPTION = "inception"
BackboneRef = Annotated[str, Field(description='"inception" (needs the imported FID weights) or a backbone id')]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainParams(Params):
    dataset_id: str
    architecture: str = Field("cdcgan", description="One of the registered architectures.")
    steps: int = Field(2000, ge=1, le=1_000_000)
    batch_size: int = Field(16, ge=1, le=1024)
    resolution: int = 64
    channels: Literal[1, 3] | None = Field(None, description="Default: 1 for a grayscale dataset, else 3.")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    base_model_id: str | None = Field(None, description="Fine-tune from this generator's weights. Same architecture, "
                                                        "resolution and channels; the classes may differ.")
    z_dim: int | None = Field(None, ge=1, le=1024, description="Default: the base model's, else 100.")
    width: int | None = Field(None, ge=1, le=1024, description="Base channel count of both networks. Default: the "
                                                              "base model's, else 64.")
    lr: float | None = Field(None, gt=0, le=1, description="Default: the architecture's (2e-4 DCGAN, 0.0025 "
                                                           "StyleGAN2-ADA).")
    beta1: float | None = Field(None, ge=0, lt=1, description="Default: the architecture's.")
    beta2: float | None = Field(None, ge=0, lt=1, description="Default: the architecture's.")
    sample_every: int = Field(200, ge=1)
    checkpoint_every: int = Field(200, ge=1)
    eval_every: int | None = Field(None, ge=1, description="Evaluate every N steps; the model is the best one.")
    eval_metric: Literal["kid", "fid"] = "kid"
    eval_samples: int = Field(500, ge=2, le=50_000, description="Generated images per evaluation.")
    eval_backbone: BackboneRef = INCEPTION
    # Options of stylegan2-ada; None is the architecture's default. Other architectures refuse them.
    mapping_layers: int | None = Field(None, ge=1, le=8, description="stylegan2-ada: mapping network depth (2).")
    w_dim: int | None = Field(None, ge=1, le=1024, description="stylegan2-ada: intermediate latent size (256).")
    augment: Literal["ada", "diffaugment", "none"] | None = Field(
        None, description="stylegan2-ada: discriminator augmentation (ada).")
    ada_target: float | None = Field(None, gt=0, lt=1, description="stylegan2-ada: overfitting target r_t (0.6).")
    ada_images: int | None = Field(None, ge=1, description="stylegan2-ada: images for p to go from 0 to 1 (500000).")
    ada_interval: int | None = Field(None, ge=1, description="stylegan2-ada: minibatches between p updates (4).")
    r1_gamma: float | None = Field(None, ge=0, description="stylegan2-ada: R1 weight (0.0002 * resolution^2 / "
                                                          "batch_size).")
    r1_interval: int | None = Field(None, ge=1, description="stylegan2-ada: lazy R1 interval in minibatches (16).")
    pl_weight: float | None = Field(None, ge=0, description="stylegan2-ada: path-length regularisation, 0 = off (0).")
    pl_interval: int | None = Field(None, ge=1, description="stylegan2-ada: path-length interval (4).")
    ema_images: int | None = Field(None, ge=1, description="stylegan2-ada: half-life of the EMA generator in "
                                                           "images (10000).")
    freeze_d: int | None = Field(None, ge=0, description="stylegan2-ada: freeze the first K discriminator blocks "
                                                         "(FreezeD) (0).")
    compile: bool | None = Field(None, description="stylegan2-ada: torch.compile the networks (false).")

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str) -> str:
        if value not in architecture_names():
            raise ValueError(f"unknown architecture {value!r}; known: {', '.join(architecture_names())}")
        return value

    @model_validator(mode="after")
    def _supported_by_architecture(self) -> TrainParams:
        architecture = get_architecture(self.architecture)
        if self.resolution not in architecture.resolutions:
            raise ValueError(f"{self.architecture} supports resolutions {list(architecture.resolutions)}, "
                             f"not {self.resolution}")
        architecture.check_options(self.options())
        return self

    def options(self) -> dict[str, Any]:
        """The architecture options given (not None)."""
        return {name: getattr(self, name) for name in ARCHITECTURE_OPTIONS if getattr(self, name) is not None}


ARCHITECTURE_OPTIONS = ("mapping_layers", "w_dim", "augment", "ada_target", "ada_images", "ada_interval", "r1_gamma",
                        "r1_interval", "pl_weight", "pl_interval", "ema_images", "freeze_d", "compile")


class FilterParams(Params):
    classifier_model_id: str = Field(description="A classifier model, e.g. the one an augmentation report "
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
    model_id: str
    count_per_class: int | None = Field(None, ge=1, le=100_000)
    counts: dict[str, Annotated[int, Field(ge=0, le=100_000)]] | None = None
    top_up_dataset_id: str | None = Field(None, description="Counts become targets for real plus generated images "
                                                            "of this dataset, class by class; with no count, the "
                                                            "target is the largest class's size.")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    truncation_psi: float = Field(1.0, ge=0, le=2)
    filter: FilterParams | None = None

    @model_validator(mode="after")
    def _one_count(self) -> GenerateParams:
        if self.count_per_class is not None and self.counts is not None:
            raise ValueError("give at most one of count_per_class and counts")
        if self.count_per_class is None and self.counts is None and self.top_up_dataset_id is None:
            raise ValueError("give count_per_class, counts or top_up_dataset_id")
        if self.counts is not None and not any(self.counts.values()):
            raise ValueError("counts asks for no images")
        return self


class EvaluateParams(Params):
    model_id: str
    dataset_id: str
    metrics: list[str] = Field(default_factory=lambda: ["fid", "kid"], min_length=1)
    num_samples: int = Field(1000, ge=2, le=50_000, description="Generated images, spread over the classes "
                                                                "like the dataset's images.")
    backbone: BackboneRef = INCEPTION
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(metric_names()))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(metric_names())}")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _is_needs_inception(self) -> EvaluateParams:
        if "is" in self.metrics and self.backbone != INCEPTION:
            raise ValueError("the Inception Score needs the Inception backbone's class logits")
        return self


class AugmentationReportParams(Params):
    train_dataset_id: str
    test_dataset_id: str | None = Field(None, description="Default: a stratified split of the train set.")
    test_fraction: float | None = Field(None, gt=0, lt=1, description="Share of each class held out for testing "
                                                                      "when there is no test_dataset_id (0.2).")
    batch_id: str | None = Field(None, description="Synthetic images from this batch ...")
    model_id: str | None = Field(None, description="... or generated by this model as needed.")
    synthetic_per_class: list[Annotated[int, Field(ge=0, le=100_000)]] = Field(
        default_factory=lambda: [0, 100, 300], min_length=1, max_length=10,
        description="Synthetic images added per class, one setting each; 0 (real only) is always included.")
    classifier: str = Field("small-cnn", description="small-cnn, resnet18 or mobilenet_v2.")
    init_classifier_id: str | None = Field(None, description="A classifier model of the same architecture whose "
                                                             "weights start every training (e.g. imported "
                                                             "ImageNet weights); default: random init.")
    classical_augmentation: bool = Field(False, description="Also run every setting with flips, small rotations "
                                                            "and crops.")
    class_balance: bool = Field(False, description="Also run every setting with minority classes topped up to "
                                                   "the largest class with synthetic images.")
    epochs: int = Field(10, ge=1, le=500)
    repeats: int = Field(3, ge=1, le=20, description="Training runs per setting, each with its own seed.")
    batch_size: int = Field(32, ge=1, le=1024)
    lr: float = Field(1e-3, gt=0, le=1)
    resolution: int = Field(64, ge=16, le=256, description="Images are resized to this for the classifier.")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    truncation_psi: float = Field(1.0, ge=0, le=2, description="For a model source.")
    gradcam_samples: int = Field(8, ge=0, le=64, description="Test images shown in each Grad-CAM grid.")

    @field_validator("classifier")
    @classmethod
    def _known_classifier(cls, value: str) -> str:
        if value not in classifier_names():
            raise ValueError(f"unknown classifier {value!r}; known: {', '.join(classifier_names())}")
        return value

    @field_validator("synthetic_per_class")
    @classmethod
    def _with_baseline(cls, value: list[int]) -> list[int]:
        return sorted({0, *value})

    @model_validator(mode="after")
    def _one_source(self) -> AugmentationReportParams:
        if (self.batch_id is None) == (self.model_id is None):
            raise ValueError("give exactly one synthetic source: batch_id or model_id")
        if self.test_dataset_id is not None and self.test_fraction is not None:
            raise ValueError("give test_dataset_id or test_fraction, not both")
        return self


class TrainJobCreate(BaseModel):
    kind: Literal["train"]
    params: TrainParams


class GenerateJobCreate(BaseModel):
    kind: Literal["generate"]
    params: GenerateParams


class EvaluateJobCreate(BaseModel):
    kind: Literal["evaluate"]
    params: EvaluateParams


class AugmentationReportJobCreate(BaseModel):
    kind: Literal["augmentation_report"]
    params: AugmentationReportParams


JobCreate = Annotated[TrainJobCreate | GenerateJobCreate | EvaluateJobCreate | AugmentationReportJobCreate,
                      Field(discriminator="kind")]


class Progress(BaseModel):
    fraction: float = 0.0
    step: int = 0
    total_steps: int = 0
    eta_seconds: float | None = None
    message: str = ""


class JobOut(Out):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: Progress
    params: dict[str, Any]
    metrics: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, str] | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobEventOut(Out):
    id: int
    type: str
    step: int | None
    data: dict[str, Any]
    created_at: datetime


class SampleOut(BaseModel):
    step: int
    url: str
    created_at: datetime
