"""The page's text: user text escaped everywhere, links that stay relative, the policy."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from gallery_support import make_folder

from batch_gen.gallery import write_gallery
from batch_gen.gallery.collect import Gallery, collect
from batch_gen.gallery.render import embed_json, href, render_page, summary_line
from batch_gen.gallery.script import SCRIPT
from batch_gen.gallery.style import STYLE

BUILT = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
HOSTILE = "</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)> & \u2028"


class _Elements(HTMLParser):
    """Every start tag of a page, and the text of its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def _parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


def test_embedded_json_never_closes_its_script() -> None:
    text = embed_json({"prompt": HOSTILE})
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert json.loads(text) == {"prompt": HOSTILE}


def test_links_are_relative_and_percent_encoded() -> None:
    assert href("icons/cloud.png") == "icons/cloud.png"
    assert href(".batch_gen/versions/icons%2Fcloud/1/a b.png") == (
        ".batch_gen/versions/icons%252Fcloud/1/a%20b.png"
    )
    assert href("javascript:alert(1)") == "javascript%3Aalert%281%29"
    assert href("a#b?c.png") == "a%23b%3Fc.png"


def test_a_hostile_prompt_and_error_stay_text(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path,
        f"""
        - id: boat
          prompt: {json.dumps(HOSTILE)}
        - id: broken
          prompt: plain
        """,
    )
    folder.succeed("boat")
    folder.fail("broken", HOSTILE)
    folder.save_state()
    page = write_gallery(folder.manifest, folder.root).read_text(encoding="utf-8")
    assert "alert(" not in page.replace("\\u003c", "")[: page.index("<script")]
    assert HOSTILE not in page
    elements = _parse(page)
    tags = [tag for tag, _ in elements.tags]
    assert tags.count("script") == 2  # the data and the page's own script, nothing more
    assert "img" not in tags  # the only images are the ones the script draws
    data = json.loads(elements.scripts[0])
    jobs = {job["id"]: job for job in data["jobs"]}
    assert jobs["boat"]["prompt"] == HOSTILE
    assert jobs["broken"]["error"] == HOSTILE


def test_a_hostile_manifest_path_is_escaped_in_the_head(tmp_path: Path) -> None:
    folder_path = tmp_path / "<b>&x"
    folder_path.mkdir()
    folder = make_folder(folder_path, "- id: boat\n  prompt: A boat.")
    page = render_page(collect(folder.manifest, folder.root), {}, built=BUILT)
    assert "<b>&x" not in page
    assert "&lt;b&gt;&amp;x" in page


def test_only_the_pages_own_script_and_style_may_run() -> None:
    empty = Gallery(manifest="/m/jobs.yaml", output="/m/out", jobs=(), shards=(), price_source=None)
    page = render_page(empty, {}, built=BUILT)
    policy = next(
        attrs["content"]
        for tag, attrs in _parse(page).tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert policy is not None
    assert "default-src 'none'" in policy
    for text in (SCRIPT, STYLE):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy
    assert f"<script>{SCRIPT}</script>" in page
    assert f"<style>{STYLE}</style>" in page
    assert not re.search(r"(src|href)=\"https?:", page)


def test_the_summary_line(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path,
        """
        - id: a
          prompt: A.
        - id: b
          prompt: B.
          n: 2
        - id: c
          prompt: C.
        """,
    )
    folder.succeed("a", ambiguous=2)
    folder.succeed("b")
    folder.fail("c", "refused")
    folder.save_state()
    gallery = collect(folder.manifest, folder.root)
    assert summary_line(gallery) == (
        "3 jobs: 2 succeeded, 1 failed · 3 images · costs not known (no price catalog)"
        " · 2 requests possibly billed in 1 job"
    )


def test_the_summary_names_the_shards(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "- id: a\n  prompt: A.\n- id: b\n  prompt: B.")
    folder.succeed("a")
    folder.succeed("b")
    folder.save_state(shards=1)
    gallery = collect(folder.manifest, folder.root)
    assert summary_line(gallery).endswith(" · shards: 1/1 (2 jobs)")
