from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from models.architectures import get_architecture
from models.architectures.per_class import PerClassSampler
from models.checkpoint import unpack_state
from models.config import GanConfig
from models.errors import DataError
from models.fastgan.networks import Discriminator, Generator, SkipExcitation
from models.labels import MARGIN, text_width
from models.monitor import Monitor, Stopped
from models.snapshot import ModelWeights, load_sampler, read_pretrained
from models.training import TrainResult, _draw_batch, train_gan
from tests.models.recording import Recorder

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ["a", "b"]
OPTIONS = {"resolution": 64, "z_dim": 8, "width": 1, "ema_images": 20}


def make_config(**overrides) -> GanConfig:
    values = dict(architecture="fastgan", channels=1, class_names=CLASSES, steps=4, batch_size=4, seed=3,
                  sample_every=4, checkpoint_every=4, options=OPTIONS)
    values.update(overrides)
    return GanConfig(**values)


def data(config: GanConfig) -> tuple[torch.Tensor, torch.Tensor]:
    r = config.resolution
    images = torch.randint(0, 256, (6, config.channels, r, r), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(42))
    return images, torch.arange(6) % config.num_classes


def run(config: GanConfig, recorder: Recorder | None = None, **kwargs) -> tuple[TrainResult, Recorder]:
    recorder = recorder or Recorder()
    return train_gan(config, *data(config), recorder.callbacks(), recorder.monitor(), **kwargs), recorder


def stopped(config: GanConfig, after: int, **kwargs) -> bytes:
    with pytest.raises(Stopped) as caught:
        run(config, Recorder(stop_after=after), **kwargs)
    return caught.value.state


@pytest.fixture(scope="module")
def full() -> tuple[TrainResult, Recorder]:
    return run(make_config())


@pytest.fixture(scope="module")
def pretrained(full) -> ModelWeights:
    return read_pretrained(full[0].snapshot, full[0].discriminator)


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_metrics(channels):
    config = make_config(channels=channels)
    trainer = get_architecture("fastgan").make_trainer(config)
    rng = torch.Generator().manual_seed(0)
    metrics = trainer.train_step(torch.rand(4, channels, 64, 64) * 2 - 1, torch.ones(4, dtype=torch.long), rng)
    assert set(metrics) == {"loss_g", "loss_d", "d_real", "d_fake", "recon", "augment_p"}
    assert metrics["recon"] > 0 and metrics["augment_p"] == 1.0  # DiffAugment by default
    images = trainer.sampling_network().sample(torch.randn(5, 8), torch.tensor([0, 1, 1, 0, 1]))
    assert images.shape == (5, channels, 64, 64) and images.abs().max() <= 1


@pytest.mark.parametrize(("resolution", "excited"), [(64, ["64"]), (256, ["64", "128", "256"])])
def test_skip_layer_excitation_in_g_and_d(resolution, excited):
    g = Generator(8, 3, resolution, 1)
    assert list(g.excite) == excited and all(isinstance(m, SkipExcitation) for m in g.excite.values())
    d = Discriminator(3, resolution, 1)
    assert any(isinstance(m, SkipExcitation) for m in d.modules())
    logits, whole, part = d.with_reconstructions(g(torch.randn(2, 8)), torch.tensor([0, 3]))
    size = min(resolution // 2, 128)
    assert logits.shape == (2, 25) and whole.shape == part.shape == (2, 3, size, size)


def test_512_and_1024_need_cuda():
    for resolution in (512, 1024):
        with pytest.raises(ValueError, match="needs device cuda"):
            make_config(options={**OPTIONS, "resolution": resolution})
    assert make_config(options={**OPTIONS, "resolution": 256}).resolution == 256


def test_each_minibatch_holds_one_class_in_turn():
    config = make_config(class_names=["a", "b", "c"], batch_size=8)
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 1])
    rng = torch.Generator().manual_seed(0)
    architecture = get_architecture(config.architecture)
    for step in range(6):
        assert set(labels[_draw_batch(architecture, config, labels, step, rng)].tolist()) == {step % 3}
    with pytest.raises(DataError, match="every class"):
        train_gan(config, torch.zeros((3, 1, 64, 64), dtype=torch.uint8), torch.tensor([0, 1, 1]),
                  Recorder().callbacks(), Monitor())


def test_rows_of_class_k_come_from_generator_k():
    sampler = get_architecture("fastgan").make_sampler(make_config(class_names=["a", "b", "c"]))
    assert isinstance(sampler, PerClassSampler) and len(sampler.networks) == 3
    z, labels = torch.randn(6, 8), torch.tensor([2, 0, 1, 2, 1, 0])
    before = sampler.sample(z, labels)
    with torch.no_grad():
        sampler.networks[1].to_image.bias.add_(0.5)
    after = sampler.sample(z, labels)
    changed = [not torch.equal(a, b) for a, b in zip(before, after)]
    assert changed == [label == 1 for label in labels.tolist()]
    assert torch.allclose(sampler.sample(z[2:3], labels[2:3])[0], after[2], atol=1e-5)  # alone as in a batch


def test_the_model_holds_one_generator_per_class_and_generates_from_each(full):
    result, rec = full
    assert len(rec.progress) == 4 and all("recon" in m for m in rec.progress)
    snapshot = unpack_state(result.snapshot)["generator"]
    assert {key.split(".")[0] for key in snapshot} == {"0", "1"}
    g_ema = unpack_state(result.checkpoint)["trainer"]["g_ema"]
    assert snapshot.keys() == g_ema.keys() and all(torch.equal(snapshot[k], g_ema[k]) for k in g_ema)
    image = Image.open(io.BytesIO(rec.samples[4]))
    labels = 2 * MARGIN + max(text_width(name) for name in CLASSES)
    assert image.mode == "L" and image.size == (labels + 8 * 66 + 2, 2 * 66 + 2)  # a named row per class
    images = load_sampler(result.snapshot).generate([0, 1, 0, 1], [7, 7, 7, 8])
    assert images.shape == (4, 1, 64, 64) and torch.equal(images[0], images[2])
    assert not torch.equal(images[0], images[1]) and not torch.equal(images[1], images[3])
    one = load_sampler(result.checkpoint).generate([1], [7])  # a training checkpoint serves as a model too
    assert (one[0].int() - images[1].int()).abs().max() <= 1


def test_a_one_class_model_is_one_generator():
    trainer = get_architecture("fastgan").make_trainer(make_config(class_names=["only"]))
    assert {key.split(".")[0] for key in trainer.sampling_network().state_dict()} == {"0"}


@pytest.mark.parametrize("stop_after", [2, 3])
def test_resume_is_bit_identical(full, stop_after):
    interrupted = stopped(make_config(), stop_after)
    torch.rand(10)  # the caller's global RNG use in between must not matter
    resumed, rec = run(make_config(), resume_from=interrupted)
    assert rec.progress == full[1].progress[stop_after:]
    assert (resumed.checkpoint, resumed.snapshot) == (full[0].checkpoint, full[0].snapshot)


def test_fine_tune_onto_other_classes_starts_each_from_a_base_class(pretrained):
    config = make_config(seed=5, class_names=["x", "y", "z"])
    tuned = unpack_state(stopped(config, 0, pretrained=pretrained))["trainer"]
    for k, base in enumerate([0, 1, 0]):  # class k from base class k mod 2
        for net, weights in (("generator", pretrained.generator), ("g_ema", pretrained.generator),
                             ("discriminator", pretrained.discriminator)):
            prefix = f"{base}."
            own = {key[len(prefix):]: v for key, v in weights.items() if key.startswith(prefix)}
            mine = {key[len(f"{k}."):]: v for key, v in tuned[net].items() if key.startswith(f"{k}.")}
            assert own.keys() == mine.keys() and all(torch.equal(own[n], mine[n]) for n in own), (k, net)
    assert run(config, pretrained=pretrained)[0].step == 4
