"""defectgen.Client against a live embedded stack with a real worker: every route through its method, the
problem+json errors, pagination, streamed uploads and downloads, wait() with its callback."""
from __future__ import annotations

import io
import zipfile

import pytest
import torch
from rich.console import Console

from defectgen import Client, DefectgenError, JobFailed, ServerUnavailable, WaitTimeout
from defectgen import schemas as client_schemas
from defectgen.progress import JobProgress
from defectgen.schemas import Job
from tests.conftest import TINY_TRAIN, sample_zip
from tests.stack import free_port

embedded = pytest.mark.parametrize("stack", ["embedded"], indirect=True)

# (method, path) -> the Client method that calls it
ROUTES = {
    ("GET", "/healthz"): "health", ("GET", "/readyz"): "ready", ("GET", "/metrics"): "metrics",
    ("POST", "/v1/datasets"): "upload_dataset", ("GET", "/v1/datasets"): "list_datasets",
    ("GET", "/v1/datasets/{dataset_id}"): "get_dataset", ("DELETE", "/v1/datasets/{dataset_id}"): "delete_dataset",
    ("GET", "/v1/datasets/{dataset_id}/preview.png"): "download_dataset_preview",
    ("POST", "/v1/jobs"): "submit_job", ("GET", "/v1/jobs"): "list_jobs", ("GET", "/v1/jobs/{job_id}"): "get_job",
    ("POST", "/v1/jobs/{job_id}/cancel"): "cancel_job", ("GET", "/v1/jobs/{job_id}/events"): "job_events",
    ("GET", "/v1/jobs/{job_id}/samples"): "job_samples",
    ("GET", "/v1/jobs/{job_id}/samples/{step}.png"): "download_sample",
    ("GET", "/v1/models"): "list_models", ("POST", "/v1/models"): "import_model",
    ("GET", "/v1/models/{model_id}"): "get_model", ("DELETE", "/v1/models/{model_id}"): "delete_model",
    ("GET", "/v1/models/{model_id}/checkpoint"): "download_checkpoint",
    ("GET", "/v1/batches"): "list_batches", ("GET", "/v1/batches/{batch_id}"): "get_batch",
    ("DELETE", "/v1/batches/{batch_id}"): "delete_batch", ("GET", "/v1/batches/{batch_id}/download"): "download_batch",
    ("GET", "/v1/batches/{batch_id}/download-url"): "batch_download_url",
    ("POST", "/v1/backbones"): "import_backbone", ("GET", "/v1/backbones"): "list_backbones",
    ("GET", "/v1/backbones/{backbone_id}"): "get_backbone",
    ("DELETE", "/v1/backbones/{backbone_id}"): "delete_backbone",
    ("GET", "/v1/reports"): "list_reports", ("GET", "/v1/reports/{report_id}"): "get_report",
    ("DELETE", "/v1/reports/{report_id}"): "delete_report",
    ("GET", "/v1/reports/{report_id}/plots/{name}.png"): "download_report_plot",
    ("GET", "/v1/reports/{report_id}/gradcam/{setting}.png"): "download_gradcam",
    ("POST", "/v1/webhooks"): "create_webhook", ("GET", "/v1/webhooks"): "list_webhooks",
    ("GET", "/v1/webhooks/{webhook_id}"): "get_webhook", ("DELETE", "/v1/webhooks/{webhook_id}"): "delete_webhook",
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): "webhook_deliveries",
    ("POST", "/v1/webhooks/{webhook_id}/test"): "test_webhook",
}
SCHEMAS = {"DatasetOut": client_schemas.Dataset, "JobOut": client_schemas.Job, "JobEventOut": client_schemas.JobEvent,
           "SampleOut": client_schemas.Sample, "ModelOut": client_schemas.Model, "BatchOut": client_schemas.Batch,
           "BackboneOut": client_schemas.Backbone, "ReportOut": client_schemas.Report,
           "DownloadUrl": client_schemas.DownloadUrl, "Progress": client_schemas.Progress,
           "ClassCount": client_schemas.ClassCount, "WebhookCreated": client_schemas.Webhook,
           "DeliveryOut": client_schemas.Delivery}
CLIENT_ONLY = {"duplicate"}  # Dataset.duplicate: the X-Defectgen-Duplicate header


def test_a_method_for_every_route_and_the_servers_fields():
    from api.main import app

    spec = app.openapi()
    routes = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops
              if path.startswith("/v1/") or path in ("/healthz", "/readyz", "/metrics")}
    assert routes == set(ROUTES)
    assert all(callable(getattr(Client, name, None)) for name in ROUTES.values())
    for name, model in SCHEMAS.items():
        assert set(spec["components"]["schemas"][name]["properties"]) == set(model.model_fields) - CLIENT_ONLY, name


@pytest.fixture
def dg(stack):
    with Client(stack.url, stack.api_key) as client:
        yield client


@embedded
def test_service_routes_and_errors(dg, stack):
    assert dg.health() == {"status": "ok"} and dg.ready() == {"status": "ready"}
    assert "# HELP" in dg.metrics()
    with pytest.raises(DefectgenError) as refused, Client(stack.url, "dg_not-a-key") as stranger:
        stranger.list_datasets()
    assert refused.value.status == 401 and refused.value.title == "Unauthorized" and refused.value.detail
    with pytest.raises(ServerUnavailable) as nobody, Client(f"http://127.0.0.1:{free_port()}", "dg_x") as gone:
        gone.health()
    assert str(nobody.value).startswith(f"no defectgen server at {gone.url}: ") and "\n" not in str(nobody.value)


@embedded
def test_datasets(dg, stack, tmp_path):
    archive = tmp_path / "client-set.zip"
    archive.write_bytes(sample_zip(per_class=3, size=16, classes=("crazing", "patches", "scratches")))
    first = dg.upload_dataset(archive, name="client-set")
    assert first.name == "client-set" and first.num_images == 9 and not first.duplicate
    assert [c.name for c in first.classes] == ["crazing", "patches", "scratches"]
    again = dg.upload_dataset(archive, name="ignored")
    assert again.duplicate and again.id == first.id
    copy = dg.upload_dataset(archive, allow_duplicate=True)
    assert not copy.duplicate and copy.id != first.id and copy.name == "client-set"

    everything = [d.id for d in dg.list_datasets()]
    assert everything[:2] == [copy.id, first.id]  # newest first
    with Client(stack.url, stack.api_key, page_size=1) as paged:
        assert [d.id for d in paged.list_datasets()] == everything  # one request per item, cursor followed
        assert [d.id for d in paged.list_datasets(limit=2)] == everything[:2]
    assert dg.get_dataset(first.id) == first.model_copy(update={"duplicate": False})

    preview = dg.download_dataset_preview(first, tmp_path)
    assert preview.name == f"{first.id}-preview.png" and preview.read_bytes()[:4] == b"\x89PNG"
    dg.delete_dataset(copy)
    with pytest.raises(DefectgenError) as gone:
        dg.get_dataset(copy.id)
    assert gone.value.status == 404 and copy.id in gone.value.detail
    with pytest.raises(DefectgenError) as bad:
        dg.upload_dataset(preview)  # a PNG is not an archive
    assert bad.value.status == 415 and not list(tmp_path.glob("*.part"))


@embedded
def test_job_errors_name_the_field(dg, dataset, trained_model):
    with pytest.raises(DefectgenError) as bad:
        dg.train(dataset["id"], steps=0, **TINY_TRAIN)
    assert bad.value.status == 422 and bad.value.errors[0]["loc"][-1] == "steps"
    assert str(bad.value).startswith("422 Invalid request: ")
    with pytest.raises(DefectgenError) as bad:
        dg.evaluate(trained_model["id"], dataset["id"], metrics=["no-such-metric"])
    assert bad.value.status == 422 and "metrics" in bad.value.errors[0]["loc"]
    with pytest.raises(DefectgenError) as bad:
        dg.translate(trained_model["id"], dataset_id=dataset["id"], **{"class": "crazing"})
    assert bad.value.status == 422 and "model_id" in str(bad.value.errors)
    with pytest.raises(DefectgenError) as bad:
        dg.augmentation_report("ds_missing", model_id=trained_model["id"])
    assert bad.value.status == 422 and "ds_missing" in bad.value.detail


@embedded
def test_training_outputs(dg, stack, trained_model, tmp_path):
    job = dg.get_job(trained_model["job_id"])
    assert job.final and job.status == "succeeded" and job.result["model_id"] == trained_model["id"]
    assert job.id in [j.id for j in dg.list_jobs(kind="train", status="succeeded")]
    events = dg.job_events(job)
    with Client(stack.url, stack.api_key, page_size=2) as paged:
        assert paged.job_events(job) == events and len(events) > 4  # oldest first, across pages
    assert [e.data["status"] for e in events if e.type == "status"] == ["queued", "running", "succeeded"]
    samples = dg.job_samples(job)
    assert [s.step for s in samples] == [10, 20]
    assert dg.download_sample(job, 20, tmp_path).read_bytes()[:4] == b"\x89PNG"

    model = dg.get_model(trained_model["id"])
    assert model.id in [m.id for m in dg.list_models()] and model.architecture == "cdcgan"
    checkpoint = dg.download_checkpoint(model, tmp_path)
    assert checkpoint.name == f"{model.id}.safetensors" and checkpoint.stat().st_size == model.size_bytes
    imported = dg.import_model(checkpoint)
    assert imported.id != model.id and imported.classes == model.classes and imported.kind == "generator"
    dg.delete_model(imported)
    assert imported.id not in [m.id for m in dg.list_models()]


@embedded
def test_generate_wait_and_download(dg, trained_model, tmp_path):
    job = dg.generate(trained_model["id"], counts={"crazing": 3, "scratches": 2}, seed=5, idempotency_key="client-1")
    assert dg.generate(trained_model["id"], counts={"crazing": 3, "scratches": 2}, seed=5,
                       idempotency_key="client-1").id == job.id
    with pytest.raises(WaitTimeout) as early:
        dg.wait(job, timeout=0)
    assert early.value.job.id == job.id and not early.value.job.final
    seen: list[Job] = []
    done = dg.wait(job, callback=seen.append, interval=0.2)
    assert done.status == "succeeded" and seen[-1] == done and not any(s.final for s in seen[:-1])
    assert [s.status for s in seen] == sorted((s.status for s in seen), key=["queued", "running", "succeeded"].index)

    batch = dg.get_batch(done.result["batch_id"])
    assert batch.count == 5 and batch.id in [b.id for b in dg.list_batches()]
    path = dg.download_batch(batch, tmp_path)
    assert path == tmp_path / f"{batch.id}.zip"
    with zipfile.ZipFile(path) as zf:
        assert sorted(n for n in zf.namelist() if n.endswith(".png"))[0] == "crazing/crazing_00000.png"
    assert dg.download_batch(batch, tmp_path / "named.zip").read_bytes() == path.read_bytes()
    with pytest.raises(DefectgenError) as unsigned:
        dg.batch_download_url(batch)
    assert unsigned.value.status == 501  # the embedded folder store cannot sign URLs
    dg.delete_batch(batch)
    with pytest.raises(DefectgenError) as gone:
        dg.download_batch(batch, tmp_path / "gone.zip")
    assert gone.value.status == 404 and not (tmp_path / "gone.zip").exists()


@embedded
def test_cancel(dg, dataset):
    job = dg.train(dataset["id"], steps=100_000, **TINY_TRAIN)
    cancelled = dg.cancel_job(job)
    assert cancelled.id == job.id
    with pytest.raises(JobFailed) as failed:
        dg.wait(job, interval=0.2, timeout=60)
    assert failed.value.job.status == "cancelled" and str(failed.value) == f"job {job.id} ended cancelled"
    assert dg.wait(job, check=False).status == "cancelled"
    with pytest.raises(DefectgenError) as again:
        dg.cancel_job(job)
    assert again.value.status == 409


@embedded
def test_report(dg, dataset, trained_model, tmp_path):
    job = dg.augmentation_report(dataset["id"], model_id=trained_model["id"], synthetic_per_class=[0, 2],
                                 epochs=1, repeats=1, resolution=32, gradcam_samples=2)
    report = dg.get_report(dg.wait(job, interval=0.3).result["report_id"])
    assert report.id in [r.id for r in dg.list_reports()] and report.train_dataset_id == dataset["id"]
    assert [s["key"] for s in report.summary["settings"]] == ["real", "real+2"]
    plots = [dg.download_report_plot(report, name, tmp_path) for name in report.plots]
    grids = [dg.download_gradcam(report, setting, tmp_path) for setting in report.gradcam]
    assert len(plots) == 2 and len(grids) == 2
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in plots + grids)
    assert dg.get_model(report.classifier_model_id).kind == "classifier"
    dg.delete_report(report)
    assert report.id not in [r.id for r in dg.list_reports()]


class Features(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().mean(dim=(2, 3))


@embedded
def test_backbones(dg, tmp_path):
    path = tmp_path / "features.pt"
    torch.jit.save(torch.jit.script(Features()), str(path))
    backbone = dg.import_backbone(path, name="client", in_channels=1)
    assert backbone.feature_dim == 1 and dg.get_backbone(backbone.id) == backbone
    assert backbone.id in [b.id for b in dg.list_backbones()]
    dg.delete_backbone(backbone)
    assert backbone.id not in [b.id for b in dg.list_backbones()]


@embedded
def test_webhooks(dg):
    with pytest.raises(DefectgenError) as refused:
        dg.create_webhook("http://169.254.169.254/latest")
    assert refused.value.status == 422 and refused.value.errors[0]["loc"] == ["body", "url"]
    hook = dg.create_webhook(f"http://127.0.0.1:{free_port()}/hook", event_types=["job.failed"])
    assert hook.secret.startswith("whsec_") and hook.event_types == ["job.failed"]
    assert dg.get_webhook(hook.id) == hook.model_copy(update={"secret": None})
    assert hook.id in [h.id for h in dg.list_webhooks()]
    delivery = dg.test_webhook(hook)
    assert delivery.event_type == "webhook.test" and delivery.id in [d.id for d in dg.webhook_deliveries(hook)]
    dg.delete_webhook(hook)  # its deliveries go with it: nothing keeps retrying the closed port
    assert hook.id not in [h.id for h in dg.list_webhooks()]


def _job(status: str, step: int, **metrics: float) -> Job:
    return Job.model_validate({
        "id": "job_1", "kind": "train", "status": status, "params": {}, "metrics": metrics, "result": None,
        "error": None, "attempts": 1, "created_at": "2026-01-01T00:00:00Z", "started_at": None, "finished_at": None,
        "progress": {"fraction": step / 100, "step": step, "total_steps": 100, "eta_seconds": 95, "message": ""}})


def test_progress_shows_step_eta_and_losses():
    out = io.StringIO()
    show = JobProgress(Console(file=out, force_terminal=False))
    for step in (0, 1, 2, 50, 100):
        show(_job("running" if step < 100 else "succeeded", step, loss_g=1.25, loss_d=0.5, d_real=0.7))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # a line per tenth of the steps and per status, not one per poll
    assert lines[1] == "job_1  running  step 50/100  eta 1m35s  loss_d=0.5 loss_g=1.25 d_real=0.7"
    bar = io.StringIO()
    show = JobProgress(Console(file=bar, force_terminal=True, width=200))
    show(_job("running", 40, loss_g=1.25))
    show(_job("succeeded", 100, loss_g=1.5))
    assert "step 100/100" in bar.getvalue() and "loss_g=1.5" in bar.getvalue() and "eta" in bar.getvalue()
