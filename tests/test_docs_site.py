"""The documentation site builds (mkdocs --strict), and no internal link or anchor is broken."""

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]


class Links(HTMLParser):
    """Collects the ids and the links (href, src) of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in ("href", "src") and value:
                self.links.append(value)


def parse(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return target


@pytest.mark.timeout(300)
def test_every_page_of_the_nav_is_built(site: Path) -> None:
    for page in (
        "index",
        "getting-started",
        "steps",
        "composing",
        "threads",
        "debugging",
        "coroutine-api",
        "typing",
        "performance",
        "reliability",
        "architecture",
        "reference",
        "changelog",
    ):
        built = site / "index.html" if page == "index" else site / page / "index.html"
        assert built.is_file(), page


@pytest.mark.timeout(300)
def test_the_reference_documents_every_public_name(site: Path) -> None:
    import paipa

    ids = parse(site / "reference" / "index.html").ids
    for name in paipa.__all__:
        assert f"paipa.{name}" in ids, name


@pytest.mark.timeout(300)
def test_no_internal_link_is_broken(site: Path) -> None:
    pages = {page: parse(page) for page in site.rglob("*.html")}
    broken = []
    for page, links in pages.items():
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "mailto:")):
                continue
            path = unquote(parts.path)
            if not path:
                target = page
            elif path.startswith("/"):  # absolute: from the site's root (the 404 page)
                target = site / path.lstrip("/")
            else:
                target = (page.parent / path).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {link}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "\n".join(broken)
