"""What a job's parameters name must exist in the workspace and fit together: checked at submission (422),
so that a job never fails later for a reason the request already showed."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api.errors import Problem, invalid
from api.rows import Row, owned
from api.schemas.jobs import (
    INCEPTION,
    AugmentationReportParams,
    EvaluateParams,
    FilterParams,
    GenerateParams,
    TrainParams,
)
from core.settings import get_settings
from core.splits import DEFAULT_TEST_FRACTION, held_out_count
from core.storage import get_store
from core.tables import Backbone, Batch, Dataset, Model
from core.train_config import NETWORK_DEFAULTS, gan_config
from core.weights import IMPORT_HINT, inception_available
from models.registry import get_architecture

NOUNS = {Dataset: "dataset", Model: "model", Backbone: "backbone", Batch: "batch"}


def _named(session: Session, table: type[Row], workspace: str, id_: str, field: str) -> Row:
    """A row that a job's parameters name: unknown, or another workspace's, is a 422 on that field."""
    try:
        return owned(session, table, workspace, id_, NOUNS[table])
    except Problem as exc:
        raise invalid(["body", "params", field], exc.detail) from None


def _check_backbone(session: Session, workspace: str, ref: str, channels: int, field: str) -> None:
    if ref == INCEPTION:
        if not inception_available(get_settings(), get_store()):
            raise invalid(["body", "params", field], IMPORT_HINT)
        return
    backbone = _named(session, Backbone, workspace, ref, field)
    if backbone.in_channels < channels:
        raise invalid(["body", "params", field],
                      f"backbone {ref} takes {backbone.in_channels}-channel images, these have {channels}")


def _generator(session: Session, workspace: str, id_: str, field: str) -> Model:
    model = _named(session, Model, workspace, id_, field)
    if model.kind != "generator":
        raise invalid(["body", "params", field], f"model {id_} is a {model.kind}, not a generator")
    return model


def _inherited(base: Model, params: TrainParams, channels: int, classes: list[str]) -> dict[str, Any]:
    """The network shape a fine-tune takes from its base model; a request that contradicts it is a 422."""
    mine = (params.architecture, params.resolution, channels)
    theirs = (base.architecture, base.resolution, base.channels)
    if mine != theirs:
        raise invalid(["body", "params", "base_model_id"],
                      f"cannot fine-tune {theirs[0]} {theirs[1]}px {theirs[2]}ch into {mine[0]} {mine[1]}px "
                      f"{mine[2]}ch: architecture, resolution and channels must match")
    architecture = get_architecture(base.architecture)
    if architecture.one_class_is_unconditional and (len(base.classes) == 1) != (len(classes) == 1):
        raise invalid(["body", "params", "base_model_id"],
                      f"cannot fine-tune a {len(base.classes)}-class model on {len(classes)} classes: one-class "
                      f"models are unconditional")
    if base.config is None:  # rows from before configs were recorded: the worker checks the checkpoint
        return {}
    shape = architecture.check_options(base.config.get("options", {}))
    inherited = {name: base.config[name] for name in NETWORK_DEFAULTS}
    inherited.update({name: shape[name] for name in architecture.shape_options})
    for name, value in inherited.items():
        given = getattr(params, name)
        if given is not None and given != value:
            raise invalid(["body", "params", name], f"the base model {base.id} has {name}={value}, not {given}")
    return inherited


def _check_train(session: Session, workspace: str, params: TrainParams) -> dict:
    dataset = _named(session, Dataset, workspace, params.dataset_id, "dataset_id")
    classes = [c["name"] for c in dataset.classes]
    architecture = get_architecture(params.architecture)
    resolved = params.model_dump()
    resolved["channels"] = params.channels or (1 if dataset.image_mode == "L" else 3)
    inherited: dict[str, Any] = {}
    if params.base_model_id:
        base = _generator(session, workspace, params.base_model_id, "base_model_id")
        inherited = _inherited(base, params, resolved["channels"], classes)
    for name, default in NETWORK_DEFAULTS.items():
        resolved[name] = resolved[name] or inherited.get(name, default)
    for name, default in architecture.hyperparameter_defaults.items():
        resolved[name] = default if resolved[name] is None else resolved[name]
    given = {name: inherited[name] for name in architecture.shape_options if name in inherited} | params.options()
    resolved.update(architecture.check_options(given))
    try:
        gan_config(resolved, classes)
    except ValueError as exc:
        raise invalid(["body", "params"], str(exc)) from None
    if params.eval_every:
        _check_backbone(session, workspace, params.eval_backbone, resolved["channels"], "eval_backbone")
    return resolved


def _check_generate(session: Session, workspace: str, params: GenerateParams) -> dict:
    model = _generator(session, workspace, params.model_id, "model_id")
    unknown = sorted(set(params.counts or ()) - set(model.classes))
    if unknown:
        raise invalid(["body", "params", "counts"], f"classes {unknown} are not among the model's {model.classes}")
    if params.top_up_dataset_id:
        dataset = _named(session, Dataset, workspace, params.top_up_dataset_id, "top_up_dataset_id")
        missing = sorted(set(model.classes) - {c["name"] for c in dataset.classes})
        if missing:
            raise invalid(["body", "params", "top_up_dataset_id"], f"the dataset lacks the model's classes {missing}")
    if params.filter:
        _check_filter(session, workspace, params.filter, model)
    return params.model_dump()


def _check_filter(session: Session, workspace: str, params: FilterParams, generator: Model) -> None:
    field = ["body", "params", "filter", "classifier_model_id"]
    classifier = _named(session, Model, workspace, params.classifier_model_id, "filter")
    if classifier.kind != "classifier":
        raise invalid(field, f"model {classifier.id} is a {classifier.kind}, not a classifier")
    missing = sorted(set(generator.classes) - set(classifier.classes))
    if missing:
        raise invalid(field, f"the classifier does not know the generator's classes {missing}")
    if params.dedupe_against_train and (
            generator.dataset_id is None or session.get(Dataset, generator.dataset_id) is None):
        raise invalid(["body", "params", "filter", "dedupe_against_train"],
                      f"the training images of model {generator.id} are not in this workspace")


def _check_evaluate(session: Session, workspace: str, params: EvaluateParams) -> dict:
    model = _generator(session, workspace, params.model_id, "model_id")
    dataset = _named(session, Dataset, workspace, params.dataset_id, "dataset_id")
    missing = sorted(set(model.classes) - {c["name"] for c in dataset.classes})
    if missing:
        raise invalid(["body", "params", "dataset_id"], f"the dataset lacks the model's classes {missing}")
    _check_backbone(session, workspace, params.backbone, model.channels, "backbone")
    return params.model_dump()


def _check_report(session: Session, workspace: str, params: AugmentationReportParams) -> dict:
    train = _named(session, Dataset, workspace, params.train_dataset_id, "train_dataset_id")
    classes = [c["name"] for c in train.classes]
    resolved = params.model_dump()
    if params.test_dataset_id:
        test = _named(session, Dataset, workspace, params.test_dataset_id, "test_dataset_id")
        extra = sorted({c["name"] for c in test.classes} - set(classes))
        if extra:
            raise invalid(["body", "params", "test_dataset_id"], f"the train set has no images of classes {extra}")
    else:
        resolved["test_fraction"] = fraction = params.test_fraction or DEFAULT_TEST_FRACTION
        empty = [c["name"] for c in train.classes if held_out_count(c["count"], fraction) in (0, c["count"])]
        if empty:
            raise invalid(["body", "params", "test_fraction"],
                          f"a stratified split with test_fraction={fraction} leaves no test or no training images "
                          f"of classes {empty}")
    if params.init_classifier_id:
        init = _named(session, Model, workspace, params.init_classifier_id, "init_classifier_id")
        if (init.kind, init.architecture) != ("classifier", params.classifier):
            raise invalid(["body", "params", "init_classifier_id"],
                          f"model {init.id} is a {init.architecture} {init.kind}, not a {params.classifier} "
                          f"classifier")
    largest = max(c["count"] for c in train.classes)
    needed = {c["name"]: max(params.synthetic_per_class) + (largest - c["count"] if params.class_balance else 0)
              for c in train.classes}
    if params.batch_id:
        batch = _named(session, Batch, workspace, params.batch_id, "batch_id")
        have = {c["name"]: c["count"] for c in batch.classes}
        if set(have) != set(classes):
            raise invalid(["body", "params", "batch_id"],
                          f"the batch's classes {sorted(have)} do not match the dataset's {sorted(classes)}")
        short = [f"{name} ({have[name]} < {need})" for name, need in needed.items() if have[name] < need]
        if short:
            raise invalid(["body", "params", "batch_id"], f"the batch has too few images of {', '.join(short)}")
    else:
        model = _generator(session, workspace, params.model_id, "model_id")  # type: ignore[arg-type]
        if set(model.classes) != set(classes):
            raise invalid(["body", "params", "model_id"],
                          f"the model's classes {sorted(model.classes)} do not match the dataset's {sorted(classes)}")
    return resolved


CHECKS = {"train": _check_train, "generate": _check_generate, "evaluate": _check_evaluate,
          "augmentation_report": _check_report}
