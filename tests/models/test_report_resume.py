"""An augmentation report stopped after some of its (repeat, setting) trainings resumes from its state without
training those again, and ends exactly where an uninterrupted report does."""
from __future__ import annotations

import pytest

from models.augmentation_report import ReportResult, run_report
from models.checkpoint import CheckpointError
from models.classification import ClassifierConfig
from models.monitor import Monitor, Progress, Stopped
from models.report_state import ReportState
from tests.models.test_augmentation_report import RESOLUTION, dataset, make_config, stripes_source

pytestmark = pytest.mark.usefixtures("one_thread")

# Unbalanced training classes, so that the balanced settings differ: 4 settings x 2 repeats = 8 trainings.
CONFIG = dict(classifier=ClassifierConfig("small-cnn", ["vertical", "horizontal"], 1, RESOLUTION, epochs=2,
                                          batch_size=16),
              synthetic_per_class=[0, 3], class_balance=True, repeats=2, gradcam_samples=2)
TRAININGS = 8


def report(progress: list[Progress], **kwargs) -> ReportResult:
    return run_report(make_config(**CONFIG), dataset([6, 3], seed=1), dataset(4, seed=2), stripes_source,
                      monitor=Monitor(progress.append, kwargs.pop("should_stop", None)), **kwargs)


def trainings(progress: list[Progress]) -> list[str]:
    """The (repeat, setting) trainings that ran, in order: each reports its batches under its own message."""
    return list(dict.fromkeys(p.message for p in progress if p.message.startswith("repeat ")))


@pytest.fixture(scope="module")
def uninterrupted() -> tuple[ReportResult, list[Progress]]:
    progress: list[Progress] = []
    result = report(progress)
    assert len(trainings(progress)) == TRAININGS
    return result, progress


def stopped_after(k: int) -> bytes:
    """The stored state of a report whose monitor asked it to stop once k trainings had finished (a report that
    has finished them all ends instead: a worker killed between the last checkpoint and the job's end)."""
    saved: list[bytes] = []

    def run() -> None:
        report([], on_finished=lambda state: saved.append(state.to_bytes()), should_stop=lambda: len(saved) >= k)

    if k < TRAININGS:
        with pytest.raises(Stopped):
            run()
    else:
        run()
    assert len(saved) == k
    return saved[-1]


@pytest.mark.parametrize("k", [1, 5, TRAININGS])  # in repeat 0; across the repeats; everything done
def test_resumed_report_equals_an_uninterrupted_one(uninterrupted, k):
    full, full_progress = uninterrupted
    state = ReportState.from_bytes(stopped_after(k))
    assert len(state.finished) == k

    progress: list[Progress] = []
    resumed = report(progress, resume=state)
    assert trainings(progress) == trainings(full_progress)[k:]  # the finished ones are not trained again
    assert progress[0].step == full_progress[-1].total * k // TRAININGS  # all trainings cost the same here
    assert progress[-1].step == progress[-1].total == full_progress[-1].total
    assert resumed.summary == full.summary
    assert resumed.baseline_classifier == full.baseline_classifier
    assert resumed.gradcam == full.gradcam and resumed.plots == full.plots


def test_state_survives_its_round_trip():
    state = ReportState.from_bytes(stopped_after(2))
    again = ReportState.from_bytes(state.to_bytes())
    assert [(r.repeat, r.setting, r.metrics, r.predictions.tolist()) for r in again.finished] == \
        [(r.repeat, r.setting, r.metrics, r.predictions.tolist()) for r in state.finished]
    assert again.gradcam == state.gradcam and set(state.gradcam) == {"real", "real+3"}
    assert again.baseline_classifier == state.baseline_classifier != b""


def test_a_state_that_does_not_fit_is_refused():
    state = ReportState.from_bytes(stopped_after(1))
    moved = ReportState([*state.finished], state.gradcam, state.baseline_classifier)
    moved.finished[0] = type(state.finished[0])(5, state.finished[0].setting, state.finished[0].metrics,
                                                 state.finished[0].predictions)
    with pytest.raises(CheckpointError, match="does not fit"):
        report([], resume=moved)
    with pytest.raises(CheckpointError, match="does not fit"):
        report([], resume=ReportState(state.finished * 2, state.gradcam, state.baseline_classifier))
    with pytest.raises(CheckpointError):
        ReportState.from_bytes(b"not a checkpoint")
