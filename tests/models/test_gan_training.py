from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
import torch
from PIL import Image

from models.checkpoint import CheckpointError, pack_state, unpack_state
from models.config import GanConfig
from models.training import TrainCallbacks, TrainResult, train_gan

CLASSES = ["a", "b"]


def make_config(**overrides) -> GanConfig:
    values = dict(architecture="cdcgan", resolution=28, channels=1, num_classes=2, class_names=CLASSES, steps=7,
                  batch_size=4, width=8, sample_every=2, checkpoint_every=3)
    values.update(overrides)
    return GanConfig(**values)


def make_data(channels: int = 1, n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(42)
    images = torch.randint(0, 256, (n, channels, 28, 28), dtype=torch.uint8, generator=gen)
    return images, torch.arange(n) % 2


@dataclass
class Recorder:
    stop_after: int | None = None
    progress: list = field(default_factory=list)
    checkpoints: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)

    def callbacks(self) -> TrainCallbacks:
        return TrainCallbacks(
            progress=lambda step, total, metrics: self.progress.append((step, total, metrics)),
            should_stop=lambda: self.stop_after is not None and len(self.progress) >= self.stop_after,
            save_checkpoint=self.checkpoints.__setitem__,
            save_sample=self.samples.__setitem__)


def run(config: GanConfig, recorder: Recorder | None = None, **kwargs) -> tuple[TrainResult, Recorder]:
    recorder = recorder or Recorder()
    images, labels = make_data(config.channels)
    return train_gan(config, images, labels, recorder.callbacks(), **kwargs), recorder


def weights(blob: bytes) -> dict[str, torch.Tensor]:
    tree = unpack_state(blob)["trainer"]
    return {f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in tree[net].items()}


@pytest.mark.parametrize(("architecture", "channels", "rows"), [("cdcgan", 1, 2), ("dcgan", 3, 8)])
def test_callbacks_follow_the_schedule(architecture, channels, rows):
    result, rec = run(make_config(architecture=architecture, channels=channels))
    assert [(s, t) for s, t, _ in rec.progress] == [(s, 7) for s in range(1, 8)]
    for _, _, metrics in rec.progress:
        assert {"loss_g", "loss_d", "d_real", "d_fake"} <= set(metrics)
        assert all(type(v) is float for v in metrics.values())
    assert list(rec.checkpoints) == [3, 6, 7]
    assert list(rec.samples) == [2, 4, 6, 7]
    for png in rec.samples.values():
        image = Image.open(io.BytesIO(png))
        image.verify()
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG"
        assert image.mode == ("L" if channels == 1 else "RGB")
        assert image.size == (8 * 30 + 2, rows * 30 + 2)
    assert result == TrainResult(step=7, stopped=False, checkpoint=rec.checkpoints[7])
    tree = unpack_state(result.checkpoint)
    assert tree["format"] == "defectgen-gan/1" and tree["step"] == 7
    assert tree["config"] == make_config(architecture=architecture, channels=channels).to_dict()
    assert set(tree["rng"]) == {"loop", "torch"}
    assert unpack_state(rec.checkpoints[3])["step"] == 3


def test_should_stop_stops_at_once():
    result, rec = run(make_config(), Recorder(stop_after=2))
    assert result.stopped and result.step == 2
    assert len(rec.progress) == 2 and rec.checkpoints == {} and list(rec.samples) == [2]
    assert unpack_state(result.checkpoint)["step"] == 2

    result, rec = run(make_config(), Recorder(stop_after=0))
    assert (result.step, result.stopped) == (0, True)
    assert rec.progress == [] and rec.checkpoints == {} and rec.samples == {}


@pytest.mark.parametrize("stop_after", [2, 3])
def test_resume_is_bit_identical(stop_after):
    full, _ = run(make_config())
    interrupted, _ = run(make_config(), Recorder(stop_after=stop_after))
    torch.rand(10)  # the caller's global RNG use in between must not matter
    resumed, rec = run(make_config(), resume_from=interrupted.checkpoint)
    assert [s for s, _, _ in rec.progress] == list(range(stop_after + 1, 8))
    assert resumed.step == 7 and not resumed.stopped
    assert resumed.checkpoint == full.checkpoint
    full_weights, resumed_weights = weights(full.checkpoint), weights(resumed.checkpoint)
    assert all(torch.equal(full_weights[k], resumed_weights[k]) for k in full_weights)


def test_resume_can_extend_training_but_not_change_it():
    first, _ = run(make_config())
    longer, rec = run(make_config(steps=9), resume_from=first.checkpoint)
    assert longer.step == 9 and [s for s, _, _ in rec.progress] == [8, 9]
    with pytest.raises(CheckpointError, match="lr"):
        run(make_config(lr=1e-3), resume_from=first.checkpoint)
    with pytest.raises(CheckpointError, match="beyond"):
        run(make_config(steps=5), resume_from=first.checkpoint)
    with pytest.raises(CheckpointError):
        run(make_config(), resume_from=b"garbage")


def test_resume_on_another_device_type_reseeds_the_loop_rng():
    interrupted, _ = run(make_config(), Recorder(stop_after=3))
    tree = unpack_state(interrupted.checkpoint)
    tree["config"]["device"] = "cuda"
    tree["rng"]["loop"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator state would not fit a CPU one
    moved = pack_state(tree)
    resumed, rec = run(make_config(), resume_from=moved)
    again, _ = run(make_config(), resume_from=moved)
    assert [s for s, _, _ in rec.progress] == [4, 5, 6, 7]
    assert resumed.checkpoint == again.checkpoint


def test_init_weights_from_starts_from_the_given_weights():
    source, _ = run(make_config(seed=1))
    fresh, _ = run(make_config(seed=2), Recorder(stop_after=0))
    started, _ = run(make_config(seed=2), Recorder(stop_after=0), init_weights_from=source.checkpoint)
    source_weights, started_weights = weights(source.checkpoint), weights(started.checkpoint)
    assert all(torch.equal(source_weights[k], started_weights[k]) for k in source_weights)
    assert any(not torch.equal(source_weights[k], v) for k, v in weights(fresh.checkpoint).items())
    tree = unpack_state(started.checkpoint)
    assert tree["step"] == 0 and tree["trainer"]["opt_g"]["state"] == {}  # optimisers start fresh
    finished, _ = run(make_config(seed=2), init_weights_from=source.checkpoint)
    assert finished.step == 7


def test_init_weights_from_other_classes_keeps_all_but_the_class_embeddings():
    source, _ = run(make_config(seed=1))
    config = make_config(seed=2, num_classes=3, class_names=["x", "y", "z"])
    fresh, _ = run(config, Recorder(stop_after=0))
    started, _ = run(config, Recorder(stop_after=0), init_weights_from=source.checkpoint)
    source_weights, fresh_weights, started_weights = (weights(r.checkpoint) for r in (source, fresh, started))
    assert {k for k in started_weights if ".embed." in k} == {"generator.embed.weight", "discriminator.embed.weight"}
    for key, value in started_weights.items():
        assert torch.equal(value, (fresh_weights if ".embed." in key else source_weights)[key]), key


def test_init_weights_from_rejects_mismatched_networks():
    source, _ = run(make_config(width=16, steps=1))
    with pytest.raises(CheckpointError, match="width"):
        run(make_config(), init_weights_from=source.checkpoint)
    with pytest.raises(CheckpointError, match="architecture"):
        run(make_config(architecture="dcgan"), init_weights_from=source.checkpoint)
    with pytest.raises(ValueError):
        run(make_config(), init_weights_from=source.checkpoint, resume_from=source.checkpoint)


@pytest.mark.parametrize(("images", "labels"), [
    (torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)),  # float images
    (torch.zeros(4, 1, 32, 32, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)),  # wrong resolution
    (torch.zeros(4, 3, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)),  # wrong channels
    (torch.zeros(0, 1, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)),  # empty
    (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(3, dtype=torch.long)),  # count mismatch
    (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 1, 2, 0])),  # label out of range
])
def test_bad_training_data_is_rejected(images, labels):
    with pytest.raises(ValueError):
        train_gan(make_config(), images, labels, Recorder().callbacks())


def test_evaluate_gets_the_checkpoint_of_every_eval_step_and_the_last():
    config = make_config(steps=7)
    images, labels = make_data()
    evaluated: dict[int, bytes] = {}
    plain = train_gan(config, images, labels, Recorder().callbacks())
    callbacks = Recorder().callbacks()
    callbacks.evaluate, callbacks.eval_every = evaluated.__setitem__, 3
    result = train_gan(config, images, labels, callbacks)
    assert sorted(evaluated) == [3, 6, 7]
    assert unpack_state(evaluated[7])["step"] == 7 and evaluated[7] == result.checkpoint
    assert weights(result.checkpoint).keys() == weights(plain.checkpoint).keys()
    assert all(torch.equal(weights(result.checkpoint)[k], weights(plain.checkpoint)[k])
               for k in weights(plain.checkpoint))  # evaluating does not change the training trajectory
