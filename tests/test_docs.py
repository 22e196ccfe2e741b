"""The documentation works offline and in a clone: /docs and /redoc load only what the app serves, `GET /` (the
dashboard) links there, and the README links only files in the repository, where docs/API.md holds the contract."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_API_MD = ROOT.parent / "shared" / "API.md"


def assets(html: str) -> list[str]:
    return re.findall(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_nothing_from_outside(api, page):
    response = api.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", html, re.IGNORECASE), html
    references = assets(html)
    assert any(ref.endswith(".js") for ref in references), references
    for ref in references:
        url = urljoin(f"http://testserver{page}", ref)
        assert urlsplit(url).netloc == "testserver", ref
        asset = api.get(url)
        assert asset.status_code == 200 and asset.content, ref
    assert "/openapi.json" in html


def test_root_links_to_docs(api):
    page = api.get("/")  # the dashboard's sign-in form, without a session
    assert page.status_code == 200 and page.url.path == "/ui/sign-in"
    assert 'href="/docs"' in page.text and 'href="/redoc"' in page.text


def test_readme_links_stay_inside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if not re.match(r"[a-z]+://", target):
            assert (ROOT / target).exists(), f"README links {target}, which is not in the repository"
    assert "(docs/API.md)" in readme


def documented_routes(text: str) -> set[tuple[str, str]]:
    """('get', '/v1/jobs/{}'): parameter names may differ between documents."""
    found = re.findall(r"`(GET|POST|DELETE|PUT|PATCH) (/[^`\s]*)`", text)
    return {(method.lower(), re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])) for method, path in found}


def test_docs_api_md_is_served_and_keeps_the_contract(api):
    ours = documented_routes((ROOT / "docs" / "API.md").read_text())
    spec = api.get("/openapi.json").json()
    served = {(method, re.sub(r"\{[^}]*\}", "{}", path)) for path, item in spec["paths"].items() for method in item}
    assert ours and not ours - served, sorted(ours - served)
    if SHARED_API_MD.exists():  # beside the checkout only: the copy leaves out none of the contract's routes
        assert documented_routes(SHARED_API_MD.read_text()) <= ours
