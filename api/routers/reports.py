"""Augmentation reports: what an augmentation_report job found, with its plots and Grad-CAM grids."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from sqlalchemy.orm import Session

from api.deps import CursorQuery, LimitQuery, SessionDep, StoreDep, WorkspaceDep
from api.errors import not_found
from api.openapi import problems
from api.paths import IdPath
from api.schemas.common import Page
from api.schemas.resources import ReportOut
from api.workspace_rows import owned, page
from core.storage_keys import report_gradcam_key, report_plot_key, report_prefix
from core.tables import Report

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=problems(401, 422))
PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}
# A plot's name or a setting's key: a key of the report's `plots` or `gradcam`.
ImageName = Annotated[str, Path(min_length=1, max_length=200)]


def get_report(session: Session, workspace: str, report_id: str) -> Report:
    return owned(session, Report, workspace, report_id, "report")


def report_out(report: Report) -> ReportOut:
    base = f"/v1/reports/{report.id}"
    return ReportOut(
        id=report.id, job_id=report.job_id, train_dataset_id=report.train_dataset_id,
        test_dataset_id=report.test_dataset_id, synthetic_source=report.synthetic_source,
        classifier=report.classifier, classifier_model_id=report.classifier_model_id, summary=report.summary,
        plots={name.removesuffix(".png"): f"{base}/plots/{name}" for name in report.plots},
        gradcam={key: f"{base}/gradcam/{key}.png" for key in report.gradcam},
        created_at=report.created_at,
    )


@router.get("", response_model=Page[ReportOut])
def list_reports(workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50,
                 cursor: CursorQuery = None) -> dict:
    """The workspace's augmentation reports, newest first."""
    found = page(session, Report, workspace, limit, cursor)
    return {**found, "items": [report_out(report) for report in found["items"]]}


@router.get("/{report_id}", response_model=ReportOut, responses=problems(404))
def read_report(report_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> ReportOut:
    """One report: per setting, accuracy and macro-F1 with intervals, the uplift over real-only training, and the
    URLs of its plots and Grad-CAM grids."""
    return report_out(get_report(session, workspace, report_id))


@router.delete("/{report_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
def delete_report(report_id: IdPath, workspace: WorkspaceDep, session: SessionDep, store: StoreDep) -> None:
    """The report and its images; the classifier it registered is a model of its own and stays."""
    report = get_report(session, workspace, report_id)
    session.delete(report)
    session.commit()
    store.delete_prefix(report_prefix(report_id))


@router.get("/{report_id}/plots/{name}.png", response_class=Response,
            responses={**PNG, **problems((404, "No such report in this workspace, or it has no such plot."))})
def report_plot(report_id: IdPath, name: ImageName, workspace: WorkspaceDep, session: SessionDep,
                store: StoreDep) -> Response:
    """One of the report's plots (a key of its `plots`, e.g. metrics) as PNG."""
    report = get_report(session, workspace, report_id)
    if f"{name}.png" not in report.plots:
        raise not_found("plot", f"{report_id}/{name}")
    return Response(store.get_bytes(report_plot_key(report_id, f"{name}.png")), media_type="image/png")


@router.get("/{report_id}/gradcam/{setting}.png", response_class=Response,
            responses={**PNG, **problems((404, "No such report in this workspace, or no Grad-CAM grid of this "
                                               "setting."))})
def report_gradcam(report_id: IdPath, setting: ImageName, workspace: WorkspaceDep, session: SessionDep,
                   store: StoreDep) -> Response:
    """The Grad-CAM grid of one of the report's settings (a key of its `gradcam`) as PNG."""
    report = get_report(session, workspace, report_id)
    if setting not in report.gradcam:
        raise not_found("Grad-CAM grid", f"{report_id}/{setting}")
    return Response(store.get_bytes(report_gradcam_key(report_id, setting)), media_type="image/png")
