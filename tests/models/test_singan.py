"""SinGAN on tiny images (32 px, 3 scales, 8 steps a scale, 2 pyramids): training, resuming mid-pyramid,
generating."""
from __future__ import annotations

import pytest
import torch

from models.checkpoint import read_checkpoint
from models.config import GanConfig
from models.errors import DataError, OptionError
from models.monitor import Stopped
from models.snapshot import load_sampler, read_model
from models.training import TrainResult, train_gan
from tests.models.recording import Recorder

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS_PER_SCALE = 8
OPTIONS = {"resolution": 32, "min_size": 20, "width": 8, "steps_per_scale": STEPS_PER_SCALE, "images_per_class": 2}
SCALES = 3


def make_config(**overrides) -> GanConfig:
    values = dict(architecture="singan", channels=3, class_names=["only"], seed=5, checkpoint_every=5,
                  options=OPTIONS)
    values.update(overrides)
    return GanConfig(**values)


def data() -> tuple[torch.Tensor, torch.Tensor]:
    """Three structured images (stripes of different periods and colours) and noise-free labels."""
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    images = []
    for period, colour in ((4.0, (1.0, 0.3, 0.1)), (7.0, (0.1, 0.9, 0.4)), (11.0, (0.5, 0.2, 1.0))):
        wave = 0.5 + 0.5 * torch.sin((x + 0.5 * y) * 2 * torch.pi / period)
        images.append(torch.stack([wave * c for c in colour]))
    return (torch.stack(images) * 255).round().to(torch.uint8), torch.zeros(3, dtype=torch.long)


def run(config: GanConfig, recorder: Recorder | None = None, **kwargs) -> tuple[TrainResult, Recorder]:
    recorder = recorder or Recorder()
    return train_gan(config, *data(), recorder.callbacks(), recorder.monitor(), **kwargs), recorder


@pytest.fixture(scope="module")
def full() -> tuple[TrainResult, Recorder]:
    return run(make_config())


def test_trains_every_pyramid_coarse_to_fine(full):
    result, recorder = full
    pyramids = OPTIONS["images_per_class"]
    assert result.step == result.config.steps == pyramids * SCALES * STEPS_PER_SCALE
    positions = [(m["image"], m["scale"]) for m in recorder.progress]
    expected = [(p, s) for p in range(pyramids) for s in range(SCALES - 1, -1, -1) for _ in range(STEPS_PER_SCALE)]
    assert positions == expected
    assert sorted(recorder.samples) == [STEPS_PER_SCALE * k for k in range(1, pyramids * SCALES + 1)]
    # The reconstruction loss falls within each scale.
    for k in range(pyramids * SCALES):
        scale = recorder.progress[k * STEPS_PER_SCALE:(k + 1) * STEPS_PER_SCALE]
        assert scale[-1]["reconstruction"] < scale[0]["reconstruction"]
    network = load_sampler(result.snapshot)._network
    assert network.trained.tolist() == [SCALES] * pyramids
    assert (network.noise_amp[:, 1:] > 0).all()


def test_picks_are_seeded_recorded_and_the_pyramids_images(full):
    images, _ = data()
    network = load_sampler(full[0].snapshot)._network
    picked = network.picked.tolist()
    assert len(set(picked)) == 2
    assert all(torch.equal(network.images[k], images[i]) for k, i in enumerate(picked))
    again = run(make_config(options={**OPTIONS, "steps_per_scale": 1}))[0]
    assert load_sampler(again.snapshot)._network.picked.tolist() == picked


def test_too_few_images_for_images_per_class():
    with pytest.raises(DataError, match="images_per_class=4"):
        run(make_config(options={**OPTIONS, "images_per_class": 4}))


@pytest.mark.parametrize("stop_after", [STEPS_PER_SCALE + 3, 2 * STEPS_PER_SCALE,
                                        (SCALES + 2) * STEPS_PER_SCALE + 3])
def test_resume_mid_pyramid_is_bit_identical(full, stop_after):
    """Stopped mid-scale (optimiser state), between two scales of a pyramid (the next inherits D's weights), and
    mid-scale in the second pyramid."""
    config = make_config()
    with pytest.raises(Stopped) as caught:
        run(config, Recorder(stop_after=stop_after))
    assert read_checkpoint(caught.value.state).step == stop_after
    resumed, _ = run(config, resume_from=caught.value.state)
    a, b = read_model(full[0].snapshot).generator, read_model(resumed.snapshot).generator
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert read_checkpoint(resumed.checkpoint).trainer["discriminator"].keys()


def _distance(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return (images.float() - reference.float()).pow(2).mean((1, 2, 3))


def test_generates_from_scale_n_and_n_minus_1(full):
    sampler = load_sampler(full[0].snapshot)
    network = sampler._network
    seeds = list(range(8))
    from_noise = sampler.generate([0] * 8, seeds)
    injected = sampler.generate([0] * 8, seeds, start_scale=SCALES - 2)
    assert from_noise.shape == injected.shape == (8, 3, 32, 32)
    assert torch.equal(from_noise, sampler.generate([0] * 8, seeds, start_scale=SCALES - 1))  # N is the default
    assert torch.equal(from_noise[3:4], sampler.generate([0], [3]))  # an image is its seed's alone
    assert len({bytes(image.numpy()) for image in from_noise}) == 8
    # Injected at N-1, each image keeps its training image's layout: closer to it than pure-noise images.
    nearest = torch.stack([_distance(injected, image) for image in network.images]).min(0).values
    from_noise_nearest = torch.stack([_distance(from_noise, image) for image in network.images]).min(0).values
    assert nearest.mean() < from_noise_nearest.mean()
    with pytest.raises(ValueError, match="start_scale"):
        sampler.generate([0], [0], start_scale=SCALES)


def test_spreads_a_class_over_its_pyramids(full):
    """From the finest scale each image is its pyramid's training image re-detailed: both pyramids are used."""
    sampler = load_sampler(full[0].snapshot)
    images = sampler.generate([0] * 16, list(range(16)), start_scale=0)
    network = sampler._network
    closest = torch.stack([_distance(images, image) for image in network.images]).argmin(0)
    assert set(closest.tolist()) == {0, 1}


def test_generates_larger_and_non_square(full):
    sampler = load_sampler(full[0].snapshot)
    images = sampler.generate([0, 0], [0, 1], size=(56, 40))
    assert images.shape == (2, 3, 40, 56)
    assert images.float().std() > 5
    injected = sampler.generate([0], [0], start_scale=1, size=(48, 48))
    assert injected.shape == (1, 3, 48, 48)
    with pytest.raises(ValueError, match="too small"):
        sampler.generate([0], [0], size=(12, 12))


def test_loop_settings_follow_the_schedule():
    config = make_config(steps=7, sample_every=3, checkpoint_every=7)
    settings = config_architecture_settings(config)
    assert settings == {"steps": 2 * SCALES * STEPS_PER_SCALE, "sample_every": STEPS_PER_SCALE,
                        "checkpoint_every": STEPS_PER_SCALE}
    assert config_architecture_settings(make_config(checkpoint_every=4))["checkpoint_every"] == 4
    with pytest.raises(ValueError, match="min_size"):
        make_config(options={**OPTIONS, "min_size": 40})


def config_architecture_settings(config: GanConfig) -> dict:
    from models.architectures import get_architecture

    return get_architecture("singan").loop_settings(config)


def test_sampling_options_are_checked_against_the_pyramid():
    from models.architectures import get_architecture

    singan, config = get_architecture("singan"), make_config()
    singan.check_sampling(config, {"start_scale": SCALES - 1, "size": (48, 40)})
    with pytest.raises(OptionError, match="N=2") as refused:
        singan.check_sampling(config, {"start_scale": SCALES})
    assert refused.value.field == "start_scale"
    with pytest.raises(OptionError, match="too small") as refused:
        singan.check_sampling(config, {"size": (12, 200)})
    assert refused.value.field == "size"
    assert get_architecture("cdcgan").sampling_options == ()
