"""crop="random": minibatches take random RxR crops of native-size images, from the loop's generator alone."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import CheckpointError, pack_state, unpack_state
from models.config import GanConfig
from models.data import TrainingImages, resample
from models.errors import DataError
from models.monitor import Monitor, Stopped
from models.training import GanCallbacks, TrainResult, train_gan

pytestmark = pytest.mark.usefixtures("one_thread")


def make_config(**overrides) -> GanConfig:
    values = dict(architecture="cdcgan", channels=1, class_names=["a", "b"], steps=6, batch_size=4, sample_every=3,
                  checkpoint_every=3, crop="random", options={"resolution": 28, "width": 4, "z_dim": 8})
    values.update(overrides)
    return GanConfig(**values)


def make_images(n: int = 6, size: tuple[int, int] = (36, 40)) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, *size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def run(config: GanConfig, images: torch.Tensor | TrainingImages, stop_after: int | None = None,
        **kwargs) -> TrainResult:
    saved: dict = {}
    steps: list = []
    monitor = Monitor(steps.append, lambda: stop_after is not None and len(steps) >= stop_after)
    labels = torch.arange(len(images)) % 2
    return train_gan(config, images, labels, GanCallbacks(saved.__setitem__, saved.__setitem__), monitor, **kwargs)


def test_crops_lie_within_each_image_and_are_uniform_over_positions():
    # values 1..255 inside the images, so any padding (0) in a crop would show
    small = torch.randint(1, 256, (1, 5, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    large = torch.randint(1, 256, (1, 7, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    pixels = torch.zeros((2, 1, 7, 6), dtype=torch.uint8)
    pixels[0, :, :5, :6], pixels[1, :, :7, :4] = small, large
    images = TrainingImages(pixels, torch.tensor([[5, 6], [7, 4]]), resolution=4)
    rng = torch.Generator().manual_seed(0)
    seen: set[tuple[int, int, int]] = set()
    for _ in range(50):
        idx = torch.tensor([0, 1, 1, 0])
        batch = images.batch(idx, rng)
        assert batch.shape == (4, 1, 4, 4) and batch.dtype == torch.uint8 and bool((batch > 0).all())
        for i, crop in zip(idx.tolist(), batch):
            source = (small, large)[i]
            found = [(i, t, left) for t in range(source.shape[1] - 3) for left in range(source.shape[2] - 3)
                     if torch.equal(source[:, t:t + 4, left:left + 4], crop)]
            assert found
            seen.update(found)
    assert seen == {(0, t, left) for t in range(2) for left in range(3)} | {(1, t, 0) for t in range(4)}


def test_crops_depend_on_the_generator_alone():
    images = TrainingImages.from_tensor(make_images(), 28)
    idx = torch.tensor([0, 3, 3, 5])
    first = images.batch(idx, torch.Generator().manual_seed(7))
    assert torch.equal(first, images.batch(idx, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, images.batch(idx, torch.Generator().manual_seed(8)))
    assert torch.equal(images.fixed_crops(), images.fixed_crops())


def test_whole_images_are_batched_as_they_are_without_drawing():
    tensor = make_images(size=(28, 28))
    rng = torch.Generator().manual_seed(0)
    state = rng.get_state()
    assert torch.equal(TrainingImages.from_tensor(tensor, 28).batch(torch.tensor([2, 0]), rng), tensor[[2, 0]])
    assert torch.equal(rng.get_state(), state)


def test_native_sizes_are_kept_within_bounds():
    def sizes(*shapes: tuple[int, int], resolution: int = 16) -> list[list[int]]:
        pil = [Image.fromarray(np.full((h, w, 3), 90, dtype=np.uint8), "RGB") for w, h in shapes]
        images = TrainingImages.from_pil(pil, resolution, channels=1)
        assert images.pixels.shape[:2] == (len(shapes), 1) and bool((images.pixels[0, :, :16, :16] == 90).all())
        return images.sizes.tolist()  # (height, width)

    assert sizes((20, 30), (40, 64)) == [[30, 20], [64, 40]]  # native up to 4R
    assert sizes((10, 12)) == [[19, 16]]  # short side upscaled to R
    assert sizes((200, 100)) == [[32, 64]]  # long side downscaled to 4R
    assert sizes((400, 50)) == [[16, 128]]  # ... but the short side never below R


def test_resize_trains_on_rxr_and_random_on_at_least_rxr():
    with pytest.raises(DataError, match="exactly 28x28"):
        run(make_config(crop="resize"), make_images())
    with pytest.raises(DataError, match="at least 28x28"):
        run(make_config(), make_images(size=(20, 40)))
    result = run(make_config(steps=1), make_images(size=(30, 50)))
    assert result.step == 1


@pytest.mark.parametrize("stop_after", [2, 4])
def test_resume_with_random_crops_is_bit_identical(stop_after):
    pil = [Image.fromarray(a[0].numpy(), "L") for a in make_images(n=4)] + [
        Image.fromarray(a[0].numpy(), "L") for a in make_images(n=2, size=(44, 30))]
    images = TrainingImages.from_pil(pil, 28, channels=1)  # two sizes: padded
    full = run(make_config(), images)
    with pytest.raises(Stopped) as stopped:
        run(make_config(), images, stop_after=stop_after)
    torch.rand(10)
    resumed = run(make_config(), images, resume_from=stopped.value.state)
    assert (resumed.checkpoint, resumed.snapshot, resumed.discriminator) == (
        full.checkpoint, full.snapshot, full.discriminator)


def test_resuming_with_another_crop_is_refused_and_old_checkpoints_were_resize():
    whole = make_images(size=(28, 28))  # acceptable to both crops
    with pytest.raises(Stopped) as stopped:
        run(make_config(), whole, stop_after=2)
    with pytest.raises(CheckpointError, match="crop"):
        run(make_config(crop="resize"), whole, resume_from=stopped.value.state)
    tree = unpack_state(stopped.value.state)
    del tree["config"]["crop"]  # written before crops existed
    legacy = pack_state(tree)
    assert run(make_config(crop="resize"), whole, resume_from=legacy).step == 6
    with pytest.raises(CheckpointError, match="crop"):
        run(make_config(), whole, resume_from=legacy)


def test_resample_is_bicubic_to_width_and_height():
    flat = torch.full((2, 3, 8, 8), 200, dtype=torch.uint8)
    out = resample(flat, (12, 10))
    assert out.shape == (2, 3, 10, 12) and out.dtype == torch.uint8 and out.unique().tolist() == [200]
    assert resample(flat[:, :1], (4, 4)).shape == (2, 1, 4, 4)
