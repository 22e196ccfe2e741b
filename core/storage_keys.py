"""Where each kind of object lives in the store."""
from __future__ import annotations


def dataset_prefix(dataset_id: str) -> str:
    return f"datasets/{dataset_id}/"


def dataset_image_key(dataset_id: str, class_name: str, filename: str) -> str:
    return f"{dataset_prefix(dataset_id)}images/{class_name}/{filename}"


def preview_key(dataset_id: str) -> str:
    return f"{dataset_prefix(dataset_id)}preview.png"


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def checkpoint_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}checkpoint.safetensors"


def sample_key(job_id: str, step: int) -> str:
    return f"{job_prefix(job_id)}samples/{step:09d}.png"


def model_prefix(model_id: str) -> str:
    return f"models/{model_id}/"


def model_key(model_id: str) -> str:
    """A generator's sampling network (models.snapshot); the name predates snapshots and stays for old rows."""
    return f"{model_prefix(model_id)}checkpoint.safetensors"


def model_discriminator_key(model_id: str) -> str:
    """D's weights beside a generator, for fine-tunes that keep D (FreezeD)."""
    return f"{model_prefix(model_id)}discriminator.safetensors"


def batch_prefix(batch_id: str) -> str:
    return f"batches/{batch_id}/"


def batch_file_key(batch_id: str, file: str) -> str:
    return f"{batch_prefix(batch_id)}files/{file}"


def batch_manifest_key(batch_id: str) -> str:
    return f"{batch_prefix(batch_id)}manifest.csv"


def batch_zip_key(batch_id: str) -> str:
    return f"{batch_prefix(batch_id)}batch.zip"


def backbone_key(backbone_id: str) -> str:
    return f"backbones/{backbone_id}/module.pt"


def auto_backbone_key(digest: str) -> str:
    """An auto backbone's weights, under the digest of what it was trained on (models.metrics.auto)."""
    return f"backbones/auto/{digest}.safetensors"


def best_snapshot_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}best.safetensors"


def feature_stats_key(dataset_sha256: str, backbone_fingerprint: str, resolution: int, channels: int,
                      crop: str = "resize") -> str:
    """Real-data statistics depend only on the images, the backbone, the size they are compared at and whether
    they are whole images resized or crops."""
    suffix = "" if crop == "resize" else f"-{crop}"
    return f"stats/{dataset_sha256}/{backbone_fingerprint}/{resolution}x{channels}{suffix}.safetensors"


def report_prefix(report_id: str) -> str:
    return f"reports/{report_id}/"


def report_plot_key(report_id: str, name: str) -> str:
    return f"{report_prefix(report_id)}plots/{name}"


def report_gradcam_key(report_id: str, setting: str) -> str:
    return f"{report_prefix(report_id)}gradcam/{setting}.png"


def classifier_key(model_id: str) -> str:
    return f"{model_prefix(model_id)}classifier.safetensors"
