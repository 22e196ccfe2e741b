"""The dashboard in this process (no worker, no browser): its session cookie's flags, signing in and out, CSRF
checks on the cookie, workspace isolation of its pages, its absence from the OpenAPI document, and job forms whose
fields and defaults are the kinds' own schemas. tests/test_dashboard_browser.py drives it in a real browser."""
from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.deps import SESSION_COOKIE
from core.kinds import get_kind, kind_names
from core.tables import Batch, Dataset, Job, RegisteredModel
from tests.inprocess import KEY, add_row

SAME_SITE = {"Origin": "http://testserver"}


@pytest.fixture
def browser(api: TestClient) -> Iterator[TestClient]:
    """A client with no Bearer header and a cookie jar of its own, like a browser."""
    with TestClient(api.app, base_url="http://testserver") as client:
        yield client


def sign_in(client: TestClient, key: str = KEY, **headers: str):  # type: ignore[no-untyped-def]
    return client.post("/ui/sign-in", data={"api_key": key, "next": "/ui/jobs"}, follow_redirects=False,
                       headers={**SAME_SITE, **headers})


def other_workspace_key(name: str = "neighbour") -> str:
    from core.db import session_scope
    from core.keys import create_key

    with session_scope() as session:
        return create_key(session, name)[0]


def test_sign_in_keeps_the_key_in_a_strict_http_only_cookie(browser: TestClient) -> None:
    response = sign_in(browser)
    assert response.status_code == 303 and response.headers["location"] == "/ui/jobs"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}={KEY};")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags and "secure" not in flags
    assert browser.get("/ui/jobs").status_code == 200
    behind_tls = sign_in(browser, **{"X-Forwarded-Proto": "https"}).headers["set-cookie"].lower()
    assert "; secure" in behind_tls


def test_a_bad_key_signs_nobody_in(browser: TestClient) -> None:
    response = sign_in(browser, "dg_not-a-key")
    assert response.status_code == 401 and "set-cookie" not in response.headers
    assert "the API key is not valid" in response.text
    assert browser.get("/ui/jobs", follow_redirects=False).headers["location"] == "/ui/sign-in?next=/ui/jobs"


def test_only_the_dashboard_itself_may_sign_in_or_write_with_the_cookie(browser: TestClient) -> None:
    for headers in ({"Origin": "https://evil.example"}, {"Referer": "http://evil.example/x"}, {"Origin": "null"}):
        response = browser.post("/ui/sign-in", data={"api_key": KEY}, headers=headers, follow_redirects=False)
        assert response.status_code == 403 and "set-cookie" not in response.headers, headers
    assert browser.post("/ui/sign-in", data={"api_key": KEY}, follow_redirects=False).status_code == 403
    sign_in(browser)
    body = {"kind": "train", "params": {}}
    assert browser.get("/v1/datasets").status_code == 200  # reads need no Origin
    assert browser.post("/v1/jobs", json=body).status_code == 403
    assert browser.post("/v1/jobs", json=body, headers={"Origin": "http://evil.example"}).status_code == 403
    reached = browser.post("/v1/jobs", json=body, headers=SAME_SITE)
    assert reached.status_code == 422 and reached.json()["errors"][0]["loc"] == ["body", "params", "dataset_id"]
    bearer = browser.post("/v1/jobs", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 422  # programs: the Bearer header, no Origin needed


def test_sign_out_clears_the_cookie(browser: TestClient) -> None:
    sign_in(browser)
    response = browser.post("/ui/sign-out", headers=SAME_SITE, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/sign-in"
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"] and "Max-Age=0" in response.headers["set-cookie"]
    assert browser.get("/ui/jobs", follow_redirects=False).status_code == 303
    assert browser.get("/v1/datasets").status_code == 401


def test_a_revoked_key_in_the_cookie_goes_back_to_sign_in(browser: TestClient) -> None:
    from core.db import session_scope
    from core.keys import find_key, revoke_key

    key = other_workspace_key("revoked")
    sign_in(browser, key)
    with session_scope() as session:
        revoke_key(session, find_key(session, key))
    page = browser.get("/ui/datasets", follow_redirects=False)
    assert page.status_code == 401 and "has been revoked" in page.text
    assert page.headers["set-cookie"].startswith(f'{SESSION_COOKIE}="";')


def test_pages_show_only_the_workspace_rows(browser: TestClient) -> None:
    rows = {Dataset: add_row(Dataset, name="mine"), RegisteredModel: add_row(RegisteredModel),
            Batch: add_row(Batch), Job: add_row(Job)}
    pages = {Dataset: "/ui/datasets", RegisteredModel: "/ui/models", Batch: "/ui/batches", Job: "/ui/jobs"}
    sign_in(browser)
    for table, row in rows.items():
        assert row.id in browser.get(pages[table]).text
    assert browser.get(f"/ui/datasets/{rows[Dataset].id}").status_code == 200
    sign_in(browser, other_workspace_key())
    overview = browser.get("/").text
    assert "Workspace neighbour" in overview
    for table, row in rows.items():
        assert row.id not in browser.get(pages[table]).text and row.id not in overview
        detail = browser.get(f"{pages[table]}/{row.id}")
        assert detail.status_code == 404 and "does not exist in this workspace" in detail.text
        assert detail.headers["content-type"].startswith("text/html")
    assert browser.get(f"/ui/batches/{rows[Batch].id}/files/a/a_00000.png").status_code == 404


def test_batch_images_stay_inside_the_batch(browser: TestClient) -> None:
    from core.storage import get_store
    from core.storage_keys import batch_file_key, batch_prefix

    batch = add_row(Batch)
    get_store().put_bytes(batch_file_key(batch.id, "a/a_00000.png"), b"an image")
    get_store().put_bytes(f"{batch_prefix(batch.id)}x.png", b"beside the files")  # where ../x.png would lead
    sign_in(browser)
    shown = browser.get(f"/ui/batches/{batch.id}/files/a/a_00000.png")
    assert shown.status_code == 200 and shown.content == b"an image"
    for file in ("%2E%2E/x.png", "a/%2E%2E/%2E%2E/x.png", "a/b/c.png", "a/notes.txt", "a/missing.png"):
        assert browser.get(f"/ui/batches/{batch.id}/files/{file}").status_code == 404, file


def test_the_dashboard_is_no_part_of_the_openapi_document(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/ui")]
    assert "defectgen_session" not in json.dumps(api.get("/openapi.json").json())


def _inputs(page: str, scope: str) -> dict[str, dict[str, str]]:
    """Each form input's attributes by field name, for one kind or one architecture."""
    found = {}
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
        attrs = {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)}
        if attrs.get("id", "").startswith(f"{scope}-") and "data-name" in attrs:
            found[attrs["data-name"]] = attrs
    return found


@pytest.mark.parametrize("kind", ["generate", "evaluate", "augmentation_report", "translate"])
def test_job_forms_are_the_kinds_schemas(browser: TestClient, kind: str) -> None:
    sign_in(browser)
    page = browser.get(f"/ui/jobs/new?kind={kind}")
    assert page.status_code == 200 and all(f"?kind={k}" in page.text for k in kind_names())
    schema = get_kind(kind).adapter.json_schema()
    inputs = _inputs(page.text, kind)
    assert set(inputs) == set(schema["properties"])
    for name, prop in schema["properties"].items():
        assert ("data-required" in inputs[name]) == (name in schema.get("required", [])), name
        if "default" in prop:
            assert json.loads(inputs[name]["data-default"]) == prop["default"], name


def test_the_train_form_has_each_architectures_options(browser: TestClient) -> None:
    from core.kinds.train import PARAMS_MODELS

    dataset = add_row(Dataset, name="for-training")
    sign_in(browser)
    page = browser.get(f"/ui/jobs/new?kind=train&dataset_id={dataset.id}&architecture=stylegan2-ada").text
    assert re.search(r'<option value="stylegan2-ada" selected>', page)
    for architecture, model in PARAMS_MODELS.items():
        inputs = _inputs(page, architecture)
        assert set(inputs) == set(model.model_fields) - {"architecture"}, architecture
        assert inputs["dataset_id"]["value"] == dataset.id
        assert json.loads(inputs["steps"]["data-default"]) == model.model_fields["steps"].default
    assert f'<option value="{dataset.id}">for-training' in page  # the workspace's datasets are offered


def test_the_train_form_offers_the_services_own_choice_of_architecture(browser: TestClient) -> None:
    from core.kinds.train import ARCHITECTURE_HELP, DEFAULT_ARCHITECTURE

    dataset = add_row(Dataset, name="for-training")
    sign_in(browser)
    page = browser.get(f"/ui/jobs/new?kind=train&dataset_id={dataset.id}").text
    assert re.search(r'<option value="" selected>\(default: chosen by the service\)</option>', page)
    assert f'data-default-variant="{DEFAULT_ARCHITECTURE}"' in page and html.escape(ARCHITECTURE_HELP) in page
    shown = re.findall(r'<fieldset data-variant="([\w-]+)" >', page)
    assert shown == [DEFAULT_ARCHITECTURE]  # the others are hidden and disabled


def test_a_report_page_shows_its_settings_plots_and_gradcam_grids(browser: TestClient) -> None:
    from core.db import session_scope
    from core.ids import new_id
    from core.storage import get_store
    from core.storage_keys import report_gradcam_key, report_plot_key
    from core.tables import Report
    from tests.inprocess import workspace_id

    stat = {"mean": 0.75, "std": 0.05, "ci95": [0.7, 0.8], "runs": [0.7, 0.8]}
    uplift = {"setting": "real+4", "baseline": "real", "accuracy": {**stat, "p_value": 0.01, "significant": True}}
    settings = [{"key": "real", "train_images": 18, "accuracy": stat, "macro_f1": stat, "uplift": None,
                 "alias_of": None, "few_repeats": False},
                {"key": "real+4", "train_images": 30, "accuracy": stat, "macro_f1": stat, "uplift": uplift,
                 "alias_of": None, "few_repeats": True, "few_repeats_reason": "2 repeats"}]
    report = Report(id=new_id("rpt"), workspace_id=workspace_id(), job_id="job_gone", train_dataset_id="ds_x",
                    synthetic_source={"model_id": "mdl_x"}, classifier="small-cnn",
                    summary={"settings": settings, "baseline": "real", "repeats": 2, "test_images": 6,
                             "interval_method": "percentile bootstrap"},
                    plots=["metrics.png"], gradcam=["real", "real+4"])
    with session_scope() as session:
        session.add(report)
    get_store().put_bytes(report_plot_key(report.id, "metrics.png"), b"a plot")
    for setting in report.gradcam:
        get_store().put_bytes(report_gradcam_key(report.id, setting), b"a grid")
    sign_in(browser)
    page = browser.get(f"/ui/reports/{report.id}").text
    assert re.findall(r"<tr><td><b>([^<]+)</b>", page) == ["real", "real+4"]
    assert "significant" in page and "few repeats" in page and "0.750" in page
    images = re.findall(r'<img class="preview (plot|gradcam)" src="([^"]+)"', page)
    assert [kind for kind, _ in images] == ["plot", "gradcam", "gradcam"]
    for _, url in images:
        assert browser.get(url).status_code == 200  # the REST route, signed in by the cookie
    assert report.id in browser.get("/ui/reports").text


def _candidate(rank: int | None, name: str, index: int, status: str, kids: list[float]) -> dict:
    curve = [{"segment": i + 1, "job_id": f"job_c{index}s{i + 1}", "status": "succeeded", "step": 40 * (i + 1),
              "seconds": 3.0, "kid": kid, "kid_std": 0.01, "fid": 10 * kid, "diversity": 0.9,
              "near_copy_fraction": 0.0} for i, kid in enumerate(kids)]
    return {"rank": rank, "name": name, "index": index, "architecture": "cdcgan", "base_model_id": None,
            "status": status, "reason": "behind at rung 1" if status == "stopped" else "",
            "steps_trained": curve[-1]["step"], "model_id": f"mdl_c{index}", "job_id": curve[-1]["job_id"],
            "kid": kids[-1], "fid": 10 * kids[-1], "diversity": 0.9, "near_copy_fraction": 0.0, "curve": curve}


def test_a_sweep_page_shows_its_leaderboard_and_curves(browser: TestClient) -> None:
    params = {"dataset_id": "ds_x", "selection": {"metric": "kid"}}
    running = add_row(Job, kind="sweep", status="running", params=params, metrics={"leaderboard": [
        _candidate(None, "first", 0, "training", [0.30]), _candidate(None, "second", 1, "stopped", [0.5])]})
    board = [_candidate(1, "second", 1, "finished", [0.5, 0.2, 0.1]),
             _candidate(2, "first", 0, "stopped", [0.3])]
    ended = add_row(Job, kind="sweep", status="succeeded", params=params,
                    result={"model_id": "mdl_c1", "winner": board[0], "leaderboard": board, "metric": "kid"})
    sign_in(browser)

    page = browser.get(f"/ui/jobs/{ended.id}").text
    assert re.findall(r'<tr data-candidate="([^"]+)">\s*<td>(\d+)</td>', page) == [("second", "1"), ("first", "2")]
    curves = dict(re.findall(r'<polyline data-curve="([^"]+)" points="([^"]+)"', page))
    assert len(curves["second"].split()) == 3 and len(curves["first"].split()) == 1  # a point per rung
    assert "behind at rung 1" in page and 'href="/ui/models/mdl_c1"' in page
    result_table = page.split("<h2>Result</h2>")[1].split("</table>")[0]
    assert "mdl_c1" in result_table and "curve" not in result_table  # the board is not repeated as JSON

    live = browser.get(f"/ui/jobs/{running.id}/leaderboard")  # what the page fetches while the sweep runs
    assert live.status_code == 200 and "once every candidate has ended" in live.text
    assert [status for status in re.findall(r'<span class="status (\w+)">', live.text)] == ["training", "stopped"]
    train = add_row(Job, kind="train", status="running")
    assert browser.get(f"/ui/jobs/{train.id}/leaderboard").status_code == 404
    assert 'id="leaderboard"' not in browser.get(f"/ui/jobs/{train.id}").text


def test_a_sweep_by_uplift_shows_it_highest_first(browser: TestClient) -> None:
    board = [{**_candidate(rank, name, index, "finished", [0.2]), "uplift": uplift}
             for rank, name, index, uplift in ((1, "helps", 1, 0.04), (2, "hurts", 0, -0.02))]
    for row in board:
        row["curve"][0]["uplift"] = row["uplift"]
    ended = add_row(Job, kind="sweep", status="succeeded", params={"dataset_id": "ds_x",
                                                                   "selection": {"metric": "uplift"}},
                    result={"model_id": "mdl_c1", "winner": board[0], "leaderboard": board, "metric": "uplift"})
    sign_in(browser)
    page = browser.get(f"/ui/jobs/{ended.id}/leaderboard").text
    assert "Ranked by uplift on the held-out images, highest first" in page
    assert re.findall(r"<th>(\w[\w-]*)</th>", page)[6:11] == ["uplift", "kid", "fid", "diversity", "near-copies"]
    curves = dict(re.findall(r'<polyline data-curve="([^"]+)" points="([^"]+)"', page))
    y = {name: float(points.split(",")[1]) for name, points in curves.items()}
    assert y["helps"] < y["hurts"]  # the higher uplift is drawn higher
