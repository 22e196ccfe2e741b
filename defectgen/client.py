"""A typed Python client for the defectgen REST API: one method per route.

    from defectgen import Client

    with Client("http://127.0.0.1:8000", api_key) as dg:  # or Client(): DEFECTGEN_URL, DEFECTGEN_API_KEY
        dataset = dg.upload_dataset("neu.zip", name="neu-steel")
        job = dg.wait(dg.train(dataset.id, architecture="cdcgan", steps=200), callback=print)
        batch = dg.wait(dg.generate(job.result["model_id"], count_per_class=10)).result["batch_id"]
        dg.download_batch(batch, "out/")

List methods follow `next_cursor` themselves and return every item, newest first (job events: oldest first),
or the first `limit`. Uploads stream from a path, downloads stream to a path. Every failure raises a
DefectgenError (defectgen.errors).
"""
from __future__ import annotations

import mimetypes
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from defectgen.errors import DefectgenError, JobFailed, ServerUnavailable, WaitTimeout
from defectgen.schemas import (
    Backbone,
    Batch,
    Dataset,
    Delivery,
    DownloadUrl,
    Job,
    JobEvent,
    Model,
    Report,
    Resource,
    Sample,
    Webhook,
)

DEFAULT_URL = "http://127.0.0.1:8000"
MAX_PAGE = 500  # the server's largest ?limit=
DUPLICATE_HEADER = "X-Defectgen-Duplicate"

R = TypeVar("R", bound=Resource)
PathLike = str | Path


def _id(thing: str | Resource) -> str:
    return thing if isinstance(thing, str) else thing.id  # type: ignore[attr-defined]


class Client:
    """url and api_key default to DEFECTGEN_URL (else DEFAULT_URL) and DEFECTGEN_API_KEY, as for the CLI;
    page_size is how many items each request of a list method asks for."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, timeout: float = 120.0,
                 page_size: int = MAX_PAGE, transport: httpx.BaseTransport | None = None) -> None:
        self.url = (url or os.environ.get("DEFECTGEN_URL") or DEFAULT_URL).rstrip("/")
        self.page_size = min(page_size, MAX_PAGE)  # items per request of the list methods
        api_key = api_key or os.environ.get("DEFECTGEN_API_KEY")
        headers = {"User-Agent": "defectgen-client"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------------------------

    @contextmanager
    def _stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self._http.stream(method, path, **kwargs) as response:
                if response.is_error:
                    response.read()
                    raise DefectgenError.from_response(response)
                yield response
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnavailable(f"no defectgen server at {self.url}: {exc}") from None
        except httpx.TransportError as exc:
            raise DefectgenError(f"{method} {self.url}{path} failed: {type(exc).__name__}: {exc}") from None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._stream(method, path, **kwargs) as response:
            response.read()
            return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _list(self, path: str, model: type[R], limit: int | None, **query: Any) -> list[R]:
        items: list[R] = []
        cursor = None
        while limit is None or len(items) < limit:
            size = self.page_size if limit is None else min(self.page_size, limit - len(items))
            params = {k: v for k, v in {**query, "limit": size, "cursor": cursor}.items() if v is not None}
            page = self._json("GET", path, params=params)
            items += [model.model_validate(item) for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        return items

    def _upload(self, path: str, file: PathLike, form: dict[str, Any], **kwargs: Any) -> httpx.Response:
        file = Path(file)
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        data = {k: str(v) for k, v in form.items() if v is not None}
        with file.open("rb") as handle:  # httpx reads an open file in chunks: the upload is never in memory whole
            return self._request("POST", path, files={"file": (file.name, handle, content_type)}, data=data,
                                 **kwargs)

    def _download(self, path: str, dest: PathLike, default_name: str) -> Path:
        """Streams to dest (or dest/default_name when dest is a directory) through a .part file, so that a
        failed download leaves no truncated file behind."""
        target = Path(dest)
        if target.is_dir():
            target = target / default_name
        partial = target.with_name(target.name + ".part")
        try:
            with self._stream("GET", path) as response, partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    # -- service -----------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """GET /healthz: the API process is alive."""
        return self._json("GET", "/healthz")

    def ready(self) -> dict[str, Any]:
        """GET /readyz: the database, object store and broker are reachable (else a DefectgenError, 503)."""
        return self._json("GET", "/readyz")

    def metrics(self) -> str:
        """GET /metrics: Prometheus text."""
        return self._request("GET", "/metrics").text

    # -- datasets ----------------------------------------------------------------------------------------------

    def upload_dataset(self, path: PathLike, name: str | None = None, *, allow_duplicate: bool = False) -> Dataset:
        """POST /v1/datasets. An upload equal to a dataset of the workspace answers with that one
        (`duplicate` True) unless allow_duplicate."""
        params = {"allow_duplicate": "true"} if allow_duplicate else None
        response = self._upload("/v1/datasets", path, {"name": name}, params=params)
        duplicate = response.headers.get(DUPLICATE_HEADER) == "true"
        return Dataset.model_validate({**response.json(), "duplicate": duplicate})

    def list_datasets(self, *, limit: int | None = None) -> list[Dataset]:
        return self._list("/v1/datasets", Dataset, limit)

    def get_dataset(self, dataset: str | Dataset) -> Dataset:
        return Dataset.model_validate(self._json("GET", f"/v1/datasets/{_id(dataset)}"))

    def delete_dataset(self, dataset: str | Dataset) -> None:
        self._request("DELETE", f"/v1/datasets/{_id(dataset)}")

    def download_dataset_preview(self, dataset: str | Dataset, dest: PathLike = ".") -> Path:
        return self._download(f"/v1/datasets/{_id(dataset)}/preview.png", dest, f"{_id(dataset)}-preview.png")

    # -- jobs --------------------------------------------------------------------------------------------------

    def submit_job(self, kind: str, params: dict[str, Any], *, idempotency_key: str | None = None) -> Job:
        """POST /v1/jobs. The same idempotency_key and body within 24 h answer with the first job."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return Job.model_validate(self._json("POST", "/v1/jobs", json={"kind": kind, "params": params},
                                             headers=headers))

    def train(self, dataset: str | Dataset, *, idempotency_key: str | None = None, **params: Any) -> Job:
        """A train job: `architecture`, `steps`, `resolution`, `base_model_id`, ... as in the README."""
        return self.submit_job("train", {"dataset_id": _id(dataset), **params}, idempotency_key=idempotency_key)

    def generate(self, model: str | Model, *, idempotency_key: str | None = None, **params: Any) -> Job:
        """A generate job: `count_per_class` or `counts`, `seed`, `filter`, `top_up_dataset_id`, ..."""
        return self.submit_job("generate", {"model_id": _id(model), **params}, idempotency_key=idempotency_key)

    def evaluate(self, model: str | Model, dataset: str | Dataset, *, idempotency_key: str | None = None,
                 **params: Any) -> Job:
        """An evaluate job: `metrics`, `num_samples`, `backbone`, `seed`."""
        return self.submit_job("evaluate", {"model_id": _id(model), "dataset_id": _id(dataset), **params},
                               idempotency_key=idempotency_key)

    def augmentation_report(self, train_dataset: str | Dataset, *, idempotency_key: str | None = None,
                            **params: Any) -> Job:
        """An augmentation_report job: `model_id` or `batch_id`, `synthetic_per_class`, `classifier`, ..."""
        return self.submit_job("augmentation_report", {"train_dataset_id": _id(train_dataset), **params},
                               idempotency_key=idempotency_key)

    def sweep(self, dataset: str | Dataset, *, idempotency_key: str | None = None, **params: Any) -> Job:
        """A sweep job: `budget_minutes` or `budget_steps`, `candidates`, `halving`, `confirm` (docs/sweep.md)."""
        return self.submit_job("sweep", {"dataset_id": _id(dataset), **params}, idempotency_key=idempotency_key)

    def translate(self, model: str | Model, *, idempotency_key: str | None = None, **params: Any) -> Job:
        """A translate job from a cyclegan model: `dataset_id` + `class` or `source_dataset_id`, `count`, ..."""
        return self.submit_job("translate", {"model_id": _id(model), **params}, idempotency_key=idempotency_key)

    def list_jobs(self, *, status: str | None = None, kind: str | None = None, parent_job_id: str | None = None,
                  limit: int | None = None) -> list[Job]:
        """parent_job_id: only the children of that job (a sweep's candidates)."""
        return self._list("/v1/jobs", Job, limit, status=status, kind=kind, parent_job_id=parent_job_id)

    def get_job(self, job: str | Job) -> Job:
        return Job.model_validate(self._json("GET", f"/v1/jobs/{_id(job)}"))

    def cancel_job(self, job: str | Job) -> Job:
        return Job.model_validate(self._json("POST", f"/v1/jobs/{_id(job)}/cancel"))

    def job_events(self, job: str | Job, *, limit: int | None = None) -> list[JobEvent]:
        """Oldest first."""
        return self._list(f"/v1/jobs/{_id(job)}/events", JobEvent, limit)

    def job_samples(self, job: str | Job) -> list[Sample]:
        return [Sample.model_validate(s) for s in self._json("GET", f"/v1/jobs/{_id(job)}/samples")]

    def download_sample(self, job: str | Job, step: int, dest: PathLike = ".") -> Path:
        return self._download(f"/v1/jobs/{_id(job)}/samples/{step}.png", dest, f"{_id(job)}-{step}.png")

    def wait(self, job: str | Job, callback: Callable[[Job], object] | None = None, *, interval: float = 1.0,
             timeout: float | None = None, check: bool = True) -> Job:
        """Polls the job every `interval` seconds until it is final, calling `callback` with each snapshot, and
        returns the final job. Raises JobFailed when it did not succeed (unless check=False), WaitTimeout
        after `timeout` seconds."""
        started = time.monotonic()
        while True:
            snapshot = self.get_job(job)
            if callback is not None:
                callback(snapshot)
            if snapshot.final:
                if check and snapshot.status != "succeeded":
                    raise JobFailed(snapshot)
                return snapshot
            if timeout is None:
                time.sleep(interval)
                continue
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise WaitTimeout(snapshot, timeout)
            time.sleep(min(interval, left))

    # -- models ------------------------------------------------------------------------------------------------

    def list_models(self, *, limit: int | None = None) -> list[Model]:
        return self._list("/v1/models", Model, limit)

    def get_model(self, model: str | Model) -> Model:
        return Model.model_validate(self._json("GET", f"/v1/models/{_id(model)}"))

    def delete_model(self, model: str | Model) -> None:
        self._request("DELETE", f"/v1/models/{_id(model)}")

    def download_checkpoint(self, model: str | Model, dest: PathLike = ".") -> Path:
        return self._download(f"/v1/models/{_id(model)}/checkpoint", dest, f"{_id(model)}.safetensors")

    def import_model(self, path: PathLike, *, architecture: str | None = None) -> Model:
        """POST /v1/models: a safetensors checkpoint; with a classifier `architecture`, a plain state dict."""
        return Model.model_validate(self._upload("/v1/models", path, {"architecture": architecture}).json())

    # -- batches -----------------------------------------------------------------------------------------------

    def list_batches(self, *, limit: int | None = None) -> list[Batch]:
        return self._list("/v1/batches", Batch, limit)

    def get_batch(self, batch: str | Batch) -> Batch:
        return Batch.model_validate(self._json("GET", f"/v1/batches/{_id(batch)}"))

    def delete_batch(self, batch: str | Batch) -> None:
        self._request("DELETE", f"/v1/batches/{_id(batch)}")

    def download_batch(self, batch: str | Batch, dest: PathLike = ".") -> Path:
        """The zip: a folder per class and manifest.csv; into dest/<batch id>.zip when dest is a directory."""
        return self._download(f"/v1/batches/{_id(batch)}/download", dest, f"{_id(batch)}.zip")

    def batch_download_url(self, batch: str | Batch) -> DownloadUrl:
        """A time-limited direct URL; a DefectgenError with status 501 where the store cannot sign one."""
        return DownloadUrl.model_validate(self._json("GET", f"/v1/batches/{_id(batch)}/download-url"))

    # -- backbones ---------------------------------------------------------------------------------------------

    def import_backbone(self, path: PathLike, *, name: str = "domain", in_channels: int = 3) -> Backbone:
        """POST /v1/backbones: a TorchScript feature extractor for metrics."""
        response = self._upload("/v1/backbones", path, {"name": name, "in_channels": in_channels})
        return Backbone.model_validate(response.json())

    def list_backbones(self, *, limit: int | None = None) -> list[Backbone]:
        return self._list("/v1/backbones", Backbone, limit)

    def get_backbone(self, backbone: str | Backbone) -> Backbone:
        return Backbone.model_validate(self._json("GET", f"/v1/backbones/{_id(backbone)}"))

    def delete_backbone(self, backbone: str | Backbone) -> None:
        self._request("DELETE", f"/v1/backbones/{_id(backbone)}")

    # -- reports -----------------------------------------------------------------------------------------------

    def list_reports(self, *, limit: int | None = None) -> list[Report]:
        return self._list("/v1/reports", Report, limit)

    def get_report(self, report: str | Report) -> Report:
        return Report.model_validate(self._json("GET", f"/v1/reports/{_id(report)}"))

    def delete_report(self, report: str | Report) -> None:
        self._request("DELETE", f"/v1/reports/{_id(report)}")

    def download_report_plot(self, report: str | Report, name: str, dest: PathLike = ".") -> Path:
        """One of the report's `plots` (e.g. "metrics", "per_class_recall") as PNG."""
        name = name.removesuffix(".png")
        return self._download(f"/v1/reports/{_id(report)}/plots/{name}.png", dest, f"{_id(report)}-{name}.png")

    def download_gradcam(self, report: str | Report, setting: str, dest: PathLike = ".") -> Path:
        """The Grad-CAM grid of one of the report's settings (a key of its `gradcam`) as PNG."""
        return self._download(f"/v1/reports/{_id(report)}/gradcam/{setting}.png", dest,
                              f"{_id(report)}-gradcam-{setting}.png")

    # -- webhooks ----------------------------------------------------------------------------------------------

    def create_webhook(self, url: str, *, event_types: list[str] | None = None) -> Webhook:
        """POST /v1/webhooks: job outcomes sent to `url`, signed with the answer's `secret` (shown only here)."""
        body: dict[str, Any] = {"url": url} if event_types is None else {"url": url, "event_types": event_types}
        return Webhook.model_validate(self._json("POST", "/v1/webhooks", json=body))

    def list_webhooks(self, *, limit: int | None = None) -> list[Webhook]:
        return self._list("/v1/webhooks", Webhook, limit)

    def get_webhook(self, webhook: str | Webhook) -> Webhook:
        return Webhook.model_validate(self._json("GET", f"/v1/webhooks/{_id(webhook)}"))

    def delete_webhook(self, webhook: str | Webhook) -> None:
        self._request("DELETE", f"/v1/webhooks/{_id(webhook)}")

    def webhook_deliveries(self, webhook: str | Webhook, *, status: str | None = None,
                           limit: int | None = None) -> list[Delivery]:
        """Newest first, with their attempts and the receiver's latest answer."""
        return self._list(f"/v1/webhooks/{_id(webhook)}/deliveries", Delivery, limit, status=status)

    def test_webhook(self, webhook: str | Webhook) -> Delivery:
        """POST /v1/webhooks/{id}/test: queue a webhook.test event."""
        return Delivery.model_validate(self._json("POST", f"/v1/webhooks/{_id(webhook)}/test"))
