"""The dashboard's pages. Each reads through the REST routers' own functions with the signed-in workspace, so a page
shows exactly what the API would answer that workspace; the pages' scripts call the REST API itself (signed in by
the session cookie, api/deps.py) for uploads, new jobs, cancelling and live updates."""
from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Request, Response

from api.dashboard import leaderboard
from api.dashboard.forms import job_form
from api.dashboard.render import render
from api.dashboard.session import PageWorkspace
from api.deps import CursorQuery, SessionDep, StoreDep
from api.errors import not_found
from api.paths import IdPath
from api.routers import batches, datasets, jobs, models, reports
from api.schemas.jobs import JobOut
from core.batches import manifest_rows
from core.db import workspace_row
from core.kinds import kind_names
from core.storage_keys import batch_file_key, batch_manifest_key
from core.tables import Job

router = APIRouter(include_in_schema=False)
PAGE = 50
GALLERY_PER_CLASS = 16


@router.get("/")
def overview(request: Request, workspace: PageWorkspace, session: SessionDep) -> Response:
    return render(request, "overview.html", workspace,
                  jobs=_jobs_out(jobs.list_jobs(workspace, session, limit=8, cursor=None))["items"],
                  datasets=datasets.list_datasets(workspace, session, limit=5, cursor=None)["items"],
                  models=models.list_models(workspace, session, limit=5, cursor=None)["items"],
                  batches=batches.list_batches(workspace, session, limit=5, cursor=None)["items"])


@router.get("/ui/datasets")
def dataset_list(request: Request, workspace: PageWorkspace, session: SessionDep,
                 cursor: CursorQuery = None) -> Response:
    found = datasets.list_datasets(workspace, session, limit=PAGE, cursor=cursor)
    return render(request, "datasets.html", workspace, page=found)


@router.get("/ui/datasets/{dataset_id}")
def dataset_page(dataset_id: IdPath, request: Request, workspace: PageWorkspace, session: SessionDep) -> Response:
    return render(request, "dataset.html", workspace, dataset=datasets.read_dataset(dataset_id, workspace, session))


@router.get("/ui/jobs")
def job_list(request: Request, workspace: PageWorkspace, session: SessionDep, cursor: CursorQuery = None,
             status: jobs.JobStatus = None, kind: str | None = None) -> Response:
    found = _jobs_out(jobs.list_jobs(workspace, session, limit=PAGE, cursor=cursor, status=status, kind=kind))
    return render(request, "jobs.html", workspace, page=found, status=status, kind=kind, kinds=kind_names())


def _jobs_out(found: dict) -> dict:
    return {**found, "items": [JobOut.model_validate(job) for job in found["items"]]}


@router.get("/ui/jobs/new")
def new_job(request: Request, workspace: PageWorkspace, session: SessionDep, kind: str = "train") -> Response:
    if kind not in kind_names():
        raise not_found("job kind", kind)
    given = {k: v for k, v in request.query_params.items() if k != "kind"}
    return render(request, "new_job.html", workspace, form=job_form(kind, session, workspace, given),
                  kinds=kind_names())


@router.get("/ui/jobs/{job_id}")
def job_page(job_id: IdPath, request: Request, workspace: PageWorkspace, session: SessionDep) -> Response:
    job = JobOut.model_validate(jobs.read_job(job_id, workspace, session))
    return render(request, "job.html", workspace, job=job, final=job.status in ("succeeded", "failed", "cancelled"),
                  result=leaderboard.result_shown(job), shown_elsewhere=leaderboard.shown_elsewhere(job),
                  **_board(job))


@router.get("/ui/jobs/{job_id}/leaderboard")
def sweep_leaderboard(job_id: IdPath, request: Request, workspace: PageWorkspace, session: SessionDep) -> Response:
    """A sweep's leaderboard alone, which its page fetches again as the sweep goes on."""
    job = JobOut.model_validate(jobs.read_job(job_id, workspace, session))
    context = _board(job)
    if context["board"] is None:
        raise not_found("sweep leaderboard", job_id)
    return render(request, "leaderboard.html", workspace, **context)


def _board(job: JobOut) -> dict:
    return {"board": leaderboard.sweep_board(job), "width": leaderboard.WIDTH, "height": leaderboard.HEIGHT}


@router.get("/ui/models")
def model_list(request: Request, workspace: PageWorkspace, session: SessionDep,
               cursor: CursorQuery = None) -> Response:
    found = models.list_models(workspace, session, limit=PAGE, cursor=cursor)
    return render(request, "models.html", workspace, page=found)


@router.get("/ui/models/{model_id}")
def model_page(model_id: IdPath, request: Request, workspace: PageWorkspace, session: SessionDep) -> Response:
    return render(request, "model.html", workspace, model=models.read_model(model_id, workspace, session))


@router.get("/ui/batches")
def batch_list(request: Request, workspace: PageWorkspace, session: SessionDep,
               cursor: CursorQuery = None) -> Response:
    found = batches.list_batches(workspace, session, limit=PAGE, cursor=cursor)
    return render(request, "batches.html", workspace, page=found)


@router.get("/ui/batches/{batch_id}")
def batch_page(batch_id: IdPath, request: Request, workspace: PageWorkspace, session: SessionDep,
               store: StoreDep) -> Response:
    batch = batches.read_batch(batch_id, workspace, session)
    gallery: dict[str, list[str]] = defaultdict(list)
    for row in manifest_rows(store.get_bytes(batch_manifest_key(batch_id))):
        if len(gallery[row["class"]]) < GALLERY_PER_CLASS:
            gallery[row["class"]].append(row["file"])
    return render(request, "batch.html", workspace, batch=batch, gallery=dict(gallery))


@router.get("/ui/batches/{batch_id}/files/{file:path}")
def batch_file(batch_id: IdPath, file: str, workspace: PageWorkspace, session: SessionDep,
               store: StoreDep) -> Response:
    """One image of a batch, for its gallery (the API serves a batch only whole, as a zip)."""
    batches.read_batch(batch_id, workspace, session)
    key = batch_file_key(batch_id, file)
    if not _batch_image(file) or not store.exists(key):
        raise not_found("batch file", f"{batch_id}/{file}")
    return Response(store.get_bytes(key), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


def _batch_image(file: str) -> bool:
    """A path as generate and translate write them, <class>/<name>.png or masks/<class>/<name>.png, and no
    other: nothing outside the batch's folder of the store."""
    parts = file.split("/")
    shape = len(parts) == 2 or (len(parts) == 3 and parts[0] == "masks")
    return shape and file.endswith(".png") and all(p not in ("", ".", "..") and "\\" not in p for p in parts)


@router.get("/ui/reports")
def report_list(request: Request, workspace: PageWorkspace, session: SessionDep,
                cursor: CursorQuery = None) -> Response:
    found = reports.list_reports(workspace, session, limit=PAGE, cursor=cursor)
    return render(request, "reports.html", workspace, page=found)


@router.get("/ui/reports/{report_id}")
def report_page(report_id: IdPath, request: Request, workspace: PageWorkspace, session: SessionDep) -> Response:
    report = reports.read_report(report_id, workspace, session)
    job = workspace_row(session, Job, workspace, report.job_id)  # None once the job is deleted
    return render(request, "report.html", workspace, report=report, params=job.params if job else None)
