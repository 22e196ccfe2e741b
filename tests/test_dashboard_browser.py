"""The dashboard in a real browser: Debian's chromium, headless, driven by selenium through Debian's chromedriver
(selenium-manager never runs, so nothing is downloaded). A person signs in, uploads the sample set, trains from the
form and watches the progress bar and the curves move without a reload, sees the sample grids, generates from the
model, opens the batch's gallery, downloads its zip and signs out; another workspace's key sees none of it, and a
bad upload lists its errors per file.

Each page is saved as a 1280x800 screenshot under the test's tmp_path. With DASHBOARD_SCREENSHOTS=docs/screenshots
they are copied there (the README shows them), and the tour also runs an augmentation report for its page.
"""
from __future__ import annotations

import base64
import io
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import sample_zip, submit, upload
from tests.stack import ROOT, Stack, wait_until

pytestmark = pytest.mark.parametrize("stack", ["embedded"], indirect=True)
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WIDTH, HEIGHT = 1280, 800
# Long enough for the page to poll the job a few times while it trains, at a few ms a step on one thread.
REPORT = {"test_fraction": 0.25, "synthetic_per_class": "[4]", "epochs": 1, "repeats": 2, "resolution": 32,
          "batch_size": 8, "gradcam_samples": 3}
TRAIN = {"steps": 240, "sample_every": 60, "checkpoint_every": 120, "resolution": 32, "width": 8, "z_dim": 16,
         "batch_size": 8}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver (`make test` installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WIDTH},{HEIGHT}", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.implicitly_wait(0)
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def dash_key(stack: Stack) -> str:
    return stack.cli("keys", "create", "--workspace", "dash").strip()


class Person:
    """What a person does in the browser, with a screenshot of each page they look at."""

    def __init__(self, driver, stack: Stack, shots: Path) -> None:  # type: ignore[no-untyped-def]
        self.driver, self.stack, self.shots = driver, stack, shots

    def open(self, path: str) -> None:
        self.driver.get(self.stack.url + path)

    def find(self, css: str, timeout: float = 10):  # type: ignore[no-untyped-def]
        from selenium.webdriver.common.by import By

        return wait_until(lambda: next(iter(self.driver.find_elements(By.CSS_SELECTOR, css)), None), timeout,
                          interval=0.1, what=f"{css} on {self.driver.current_url}")

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def js(self, script: str, *args):  # type: ignore[no-untyped-def]
        return self.driver.execute_script(script, *args)

    def path(self) -> str:
        return self.js("return location.pathname")

    def sign_in(self, key: str) -> None:
        self.open("/")
        self.find("#api-key").send_keys(key)
        self.find("#sign-in").click()
        self.find("#sign-out")

    def fill(self, css: str, value: object) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(str(value))

    def screenshot(self, name: str) -> Path:
        self.js("window.scrollTo(0, 0)")
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def person(browser, stack: Stack, tmp_path: Path) -> Iterator[Person]:  # type: ignore[no-untyped-def]
    browser.delete_all_cookies()
    yield Person(browser, stack, tmp_path)
    publish = os.environ.get("DASHBOARD_SCREENSHOTS")
    if publish:
        target = ROOT / publish
        target.mkdir(parents=True, exist_ok=True)
        for shot in tmp_path.glob("*.png"):
            shutil.copy(shot, target / shot.name)


def test_the_tour_in_a_browser(person: Person, stack: Stack, dash_key: str, tmp_path: Path) -> None:
    person.open("/ui/datasets")
    assert person.path() == "/ui/sign-in"  # no session: the sign-in form, which remembers the page
    person.screenshot("sign-in")
    person.sign_in(dash_key)
    assert person.path() == "/"
    cookie = next(c for c in person.driver.get_cookies() if c["name"] == "defectgen_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # plain http here
    assert person.js("return document.cookie") == ""  # no script can read the key

    # upload the sample set through the file input (the drop zone's fallback)
    archive = tmp_path / "neu-sample.zip"
    archive.write_bytes(sample_zip(per_class=8, size=64, classes=("crazing", "patches", "scratches")))
    person.open("/ui/datasets")
    person.fill("#upload-name", "neu-sample")
    person.find("#upload-file").send_keys(str(archive))
    wait_until(lambda: person.path().startswith("/ui/datasets/ds_"), 30, what="the dataset's page")
    dataset_id = person.path().rsplit("/", 1)[1]
    preview = person.find("#preview")
    wait_until(lambda: person.js("return arguments[0].complete && arguments[0].naturalWidth", preview), 10,
               what="the preview grid")
    assert "crazing" in person.find("main").text and "scratches" in person.find("main").text
    person.screenshot("dataset")
    person.open("/ui/datasets")
    assert "neu-sample" in person.find("#datasets").text
    person.screenshot("datasets")

    # train from the form, starting from the dataset's page
    person.open(f"/ui/datasets/{dataset_id}")
    person.find("#train-this").click()
    person.find("#job-form")
    assert person.find("#cdcgan-dataset_id").get_attribute("value") == dataset_id
    assert person.find("#cdcgan-steps").get_attribute("value") == "2000"  # the schema's default
    fill_train_form(person)
    person.screenshot("new-train-job")
    person.find("#submit-job").click()
    wait_until(lambda: person.path().startswith("/ui/jobs/job_"), 15, what="the job's page")
    job_id = person.path().rsplit("/", 1)[1]
    person.js("window.stillThisPage = true")

    # the progress bar and the curves move while the page stays loaded
    def progress() -> tuple[float, int]:
        width = person.js("return parseFloat(document.querySelector('#job [data-progress] div').style.width) || 0")
        points = person.js("const s = document.querySelector('#charts [data-series=loss_d] svg');"
                           "return s ? Number(s.dataset.points) : 0")
        return width, points

    first = wait_until(lambda: (lambda p: p if 0 < p[0] < 100 and p[1] >= 1 else None)(progress()), 90,
                       what="the job to show progress and a curve")
    wait_until(lambda: (lambda p: p[0] > first[0] and p[1] > first[1])(progress()), 60,
               what="the progress bar and the curve to move")
    assert person.js("return window.stillThisPage") is True
    person.screenshot("job-running")
    wait_until(lambda: "succeeded" in person.find("#job h1 [data-status]").text, 120, what="the job to succeed")
    sample = person.find("#sample-image")
    wait_until(lambda: person.js("return arguments[0].complete && arguments[0].naturalWidth", sample), 10,
               what="a sample grid")
    grids = TRAIN["steps"] // TRAIN["sample_every"]  # the page reads the last events just after the final status
    wait_until(lambda: int(person.find("#sample-step").get_attribute("max")) + 1 == grids, 10,
               what=f"{grids} sample grids on the slider")
    shown = person.find("[data-sample-label]").text
    person.js("const s = document.getElementById('sample-step'); s.value = 0; s.dispatchEvent(new Event('input'))")
    assert person.find("[data-sample-label]").text == str(TRAIN["sample_every"]) != shown
    assert {"loss_g", "loss_d"} <= set(person.js(
        "return [...document.querySelectorAll('#charts [data-series]')].map(e => e.dataset.series)"))
    assert person.js("return window.stillThisPage") is True
    person.js("const s = document.getElementById('sample-step'); s.value = s.max; s.dispatchEvent(new Event('input'))")
    person.screenshot("job")
    model_link = person.find("#job [data-result] a[href^='/ui/models/']")
    model_id = model_link.text

    # the model, then generate from it
    model_link.click()
    person.find("#generate-from")
    person.screenshot("model")
    person.open("/ui/models")
    assert model_id in person.find("#models").text
    person.screenshot("models")
    person.open(f"/ui/models/{model_id}")
    person.find("#generate-from").click()
    assert person.find("#generate-model_id").get_attribute("value") == model_id
    person.fill("#generate-count_per_class", 6)
    person.screenshot("new-generate-job")
    person.find("#submit-job").click()
    wait_until(lambda: person.path().startswith("/ui/jobs/job_") and person.path() != f"/ui/jobs/{job_id}", 15,
               what="the generate job's page")
    batch_link = person.find("#job [data-result] a[href^='/ui/batches/']", timeout=120)
    batch_id = batch_link.text
    batch_link.click()

    # the gallery per class, and the zip
    person.find("#download")
    galleries = person.all(".gallery")
    assert [g.get_attribute("data-class") for g in galleries] == ["crazing", "patches", "scratches"]
    wait_until(lambda: person.js("return [...document.querySelectorAll('.gallery img')]"
                                 ".every(i => i.complete && i.naturalWidth > 0)"), 10, what="the gallery's images")
    assert len(person.all(".gallery img")) == 18
    person.screenshot("batch")
    person.find("#download").click()
    downloaded = person.driver.downloads / f"{batch_id}.zip"
    wait_until(lambda: downloaded.exists() and downloaded.stat().st_size > 0, 20, what="the download")
    with zipfile.ZipFile(io.BytesIO(downloaded.read_bytes())) as zf:
        assert zf.testzip() is None
        assert sum(name.endswith(".png") for name in zf.namelist()) == 18 and "manifest.csv" in zf.namelist()
    if os.environ.get("DASHBOARD_SCREENSHOTS"):  # ~15 s more; the page has no script (tests/test_dashboard.py)
        report_page(person, model_id, dataset_id)

    # a job that a program starts shows up in the open jobs list; it is cancelled from its page while it runs
    person.open("/ui/jobs")
    person.js("window.stillThisPage = true")
    with stack.client(dash_key) as client:
        long_run = {**TRAIN, "steps": 100_000, "sample_every": 100_000, "checkpoint_every": 100_000, "max_minutes": 1}
        started = submit(client, "train", {"dataset_id": dataset_id, **long_run}).json()
    link = person.find(f"tr[data-job-id='{started['id']}'] a", timeout=10)
    assert person.js("return window.stillThisPage") is True  # the list polled and added the row itself
    link.click()
    wait_until(lambda: person.find("#job [data-step]").text.split("/")[0] not in ("", "0"), 60,
               what="the job to train")
    person.find("#cancel").click()
    wait_until(lambda: "cancelled" in person.find("#job h1 [data-status]").text, 30, what="the job to be cancelled")
    assert not person.find("#cancel").is_displayed()

    person.open("/ui/jobs")
    assert job_id in person.find("[data-live-jobs]").text and started["id"] in person.find("[data-live-jobs]").text
    person.screenshot("jobs")
    person.open("/")
    person.screenshot("overview")

    person.find("#sign-out").click()
    assert person.path() == "/ui/sign-in"
    person.open(f"/ui/batches/{batch_id}")
    assert person.path() == "/ui/sign-in"


def fill_train_form(person: Person) -> None:
    from selenium.webdriver.support.ui import Select

    for name, value in TRAIN.items():
        if name == "resolution":
            Select(person.find("#cdcgan-resolution")).select_by_visible_text(str(value))
        else:
            person.fill(f"#cdcgan-{name}", value)


def report_page(person: Person, model_id: str, dataset_id: str) -> None:
    """An augmentation report started from the model's page, with its table, plots and Grad-CAM grids."""
    person.open(f"/ui/models/{model_id}")
    person.find("#report-from").click()
    assert person.find("#augmentation_report-model_id").get_attribute("value") == model_id
    assert person.find("#augmentation_report-train_dataset_id").get_attribute("value") == dataset_id
    for name, value in REPORT.items():
        person.fill(f"#augmentation_report-{name}", value)
    person.find("#submit-job").click()
    report_link = person.find("#job [data-result] a[href^='/ui/reports/']", timeout=120)
    report_link.click()
    settings = [row.find_element("css selector", "td").text for row in person.all("#report-settings tbody tr")]
    assert settings == ["real", "real+4"]
    wait_until(lambda: person.js("return [...document.querySelectorAll('main img')]"
                                 ".every(i => i.complete && i.naturalWidth > 0)"), 10, what="the report's images")
    assert len(person.all("img.plot")) >= 1 and len(person.all("img.gradcam")) == 2
    person.screenshot("report")


def test_the_train_form_leaves_the_architecture_to_the_service(person: Person, stack: Stack, dash_key: str) -> None:
    from selenium.webdriver.support.ui import Select

    with stack.client(dash_key) as dash:
        few_shot = upload(dash, sample_zip(per_class=8, size=64, classes=("crazing", "scratches"))).json()["id"]
    person.sign_in(dash_key)
    person.open(f"/ui/jobs/new?kind=train&dataset_id={few_shot}")
    choice = Select(person.find("#variant"))
    assert choice.first_selected_option.get_attribute("value") == ""  # "(default: chosen by the service)"
    assert person.find("#cdcgan-steps").is_displayed()  # the fields of the union's default member
    choice.select_by_value("fastgan")
    assert person.find("#fastgan-steps").is_displayed() and not person.find("#cdcgan-steps").is_displayed()
    choice.select_by_value("")
    assert person.find("#cdcgan-steps").is_displayed()
    person.find("#submit-job").click()
    wait_until(lambda: person.path().startswith("/ui/jobs/job_"), 15, what="the job's page")
    job_id = person.path().rsplit("/", 1)[1]
    with stack.client(dash_key) as dash:
        params = dash.get(f"/v1/jobs/{job_id}").json()["params"]
        assert dash.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    assert (params["architecture"], params["preset"]) == ("singan", "few-shot-textures")  # as the API chooses


def test_another_workspace_sees_none_of_it(person: Person, stack: Stack, dash_key: str) -> None:
    with stack.client(dash_key) as dash:
        dataset = upload(dash, sample_zip(per_class=8, size=64, classes=("crazing", "patches", "scratches")))
        dataset_id = dataset.json()["id"]
        jobs = [job["id"] for job in dash.get("/v1/jobs").json()["items"]]
    other = stack.cli("keys", "create", "--workspace", "dash-neighbour").strip()
    person.sign_in(other)
    for page in ("/", "/ui/datasets", "/ui/jobs", "/ui/models", "/ui/batches"):
        person.open(page)
        text = person.find("main").text
        assert dataset_id not in text and "neu-sample" not in text and not any(j in text for j in jobs), page
    person.open(f"/ui/datasets/{dataset_id}")
    assert "does not exist in this workspace" in person.find("#problem-detail").text
    status = person.js("return fetch(arguments[0]).then(r => r.status)", f"/v1/datasets/{dataset_id}/preview.png")
    assert status == 404


def test_a_bad_upload_lists_its_errors(person: Person, stack: Stack, dash_key: str) -> None:
    person.sign_in(dash_key)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("crazing/notes.txt", "not an image")
        zf.writestr("loose.png", b"\x89PNG")
        for i in range(3):
            zf.writestr(f"scratches/{i}.png", b"truncated")
    person.open("/ui/datasets")
    before = person.find("#datasets").text
    person.js("""const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const dropped = new DataTransfer();
        dropped.items.add(new File([bytes], "broken.zip", {type: "application/zip"}));
        document.getElementById("upload-form").dispatchEvent(
            new DragEvent("drop", {dataTransfer: dropped, bubbles: true, cancelable: true}));""",
              base64.b64encode(buffer.getvalue()).decode())  # what dropping a file on the zone does
    box = person.find("#upload-errors:not([hidden]) table", timeout=15)
    rows = [row.text for row in box.find_elements("css selector", "tr")]
    assert any(r.startswith("crazing/notes.txt") for r in rows) and any(r.startswith("loose.png") for r in rows)
    assert person.path() == "/ui/datasets"
    person.screenshot("upload-errors")
    person.open("/ui/datasets")
    assert person.find("#datasets").text == before  # nothing was stored
