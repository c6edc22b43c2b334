"""The gallery page: one HTML file, no network, every byte of it built here. Pure.

The page is a short static head (title, where the files are, the totals) and the jobs as
JSON inside a ``<script type="application/json">``, which the page's own script
(:mod:`.script`) draws on demand: only the cards in view exist in the document, so 5,000
jobs open as quickly as 50. Everything a manifest or a metadata file says (prompts, ids,
errors) is user text: it reaches the head through :func:`html.escape`, the JSON through
:func:`embed_json` (no ``<`` survives, so nothing can close the script element), and the
cards through the script's ``textContent``, never as markup. A Content-Security-Policy
lets only this page's own script and style run and forbids every network request.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

import msgspec

from batch_gen.planning.rejections import REJECTIONS_FORMAT, REJECTIONS_VERSION
from batch_gen.pricing.catalog import format_usd
from batch_gen.report import plural

from .collect import Gallery, GalleryImage, GalleryJob
from .script import SCRIPT
from .style import STYLE


def embed_json(value: Any) -> str:
    """``value`` as JSON text that is safe inside an HTML ``<script>`` element: ``<``,
    ``>`` and ``&`` only ever occur inside JSON strings, where ``\\u003c`` (and so on)
    mean the same characters to ``JSON.parse`` and nothing to the HTML parser."""
    text = msgspec.json.encode(value).decode("utf-8")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def href(path: str) -> str:
    """A relative URL for a '/'-separated path relative to the page's folder: each part
    percent-encoded (so ``%`` in a folder name, ``#`` or ``?`` in a file name, or a
    ``name:`` part cannot turn it into another place or scheme)."""
    return "/".join(quote(part, safe="") for part in path.split("/"))


def page_data(gallery: Gallery, thumbs: Mapping[str, str], *, built: datetime) -> dict[str, Any]:
    """What the page's script reads: the gallery, with each image's link and thumbnail."""
    return {
        "manifest": gallery.manifest,
        "output": gallery.output,
        "built": built.isoformat(timespec="seconds"),
        "rejectFile": f"{PurePosixPath(gallery.manifest).stem}.rejected.json",
        "format": {"batch_gen": REJECTIONS_FORMAT, "version": REJECTIONS_VERSION},
        "priced": gallery.price_source is not None,
        "shards": [{"name": name, "jobs": count} for name, count in gallery.shards],
        "jobs": [_job_data(job, thumbs) for job in gallery.jobs],
    }


def _job_data(job: GalleryJob, thumbs: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id,
        "index": job.index,
        "key": job.key,
        "prompt": job.prompt,
        "model": job.model,
        "api": job.api,
        "status": job.status,
        "note": job.note,
        "error": job.error,
        "attempts": job.attempts,
        "billed": job.possibly_billed,
        "cost": None if job.cost_usd is None else round(job.cost_usd, 6),
        "costText": None if job.cost_usd is None else format_usd(job.cost_usd),
        "shard": job.shard,
        "stale": job.stale,
        "finished": job.finished_at,
        "versions": job.versions,
        "images": [_image_data(image, thumbs) for image in job.images],
        "facts": job.facts,
    }
    if job.previous is not None:
        data["prev"] = {
            "n": job.previous.number,
            "prompt": job.previous.prompt,
            "key": job.previous.key,
            "finished": job.previous.finished_at,
            "images": [_image_data(image, thumbs) for image in job.previous.images],
        }
    return {name: value for name, value in data.items() if value is not None}


def _image_data(image: GalleryImage, thumbs: Mapping[str, str]) -> dict[str, Any]:
    data = {
        "src": href(image.path),
        "file": image.path,
        "thumb": thumbs.get(image.path),
        "label": image.label,
        "w": image.width,
        "h": image.height,
        "fmt": image.format or None,
        "bytes": image.bytes or None,
        "sha": image.sha256 or None,
    }
    return {name: value for name, value in data.items() if value is not None}


def summary_line(gallery: Gallery) -> str:
    """The totals under the title, as text: jobs by status, images, cost, possibly billed
    requests and shards, e.g. ``12 jobs: 11 succeeded, 1 failed · 13 images · $0.1521``."""
    counts = Counter(job.status for job in gallery.jobs)
    order = ("succeeded", "failed", "pending", "running")
    parts = [
        f"{plural(len(gallery.jobs), 'job')}: "
        + (", ".join(f"{counts[name]} {name}" for name in order if counts[name]) or "none")
    ]
    parts.append(plural(sum(len(job.images) for job in gallery.jobs), "image"))
    if gallery.price_source is not None:
        known = [job.cost_usd for job in gallery.jobs if job.cost_usd is not None]
        parts.append(f"{format_usd(sum(known))} at catalog prices ({gallery.price_source})")
    else:
        parts.append("costs not known (no price catalog)")
    billed = sum(job.possibly_billed for job in gallery.jobs)
    if billed:
        jobs = sum(1 for job in gallery.jobs if job.possibly_billed)
        parts.append(f"{plural(billed, 'request')} possibly billed in {plural(jobs, 'job')}")
    if gallery.shards:
        parts.append(
            "shards: "
            + ", ".join(f"{name} ({plural(count, 'job')})" for name, count in gallery.shards)
        )
    return " · ".join(parts)


def render_page(gallery: Gallery, thumbs: Mapping[str, str], *, built: datetime) -> str:
    """The whole page. ``thumbs`` maps image paths to data URIs; ``built`` is shown."""
    name = PurePosixPath(gallery.manifest).name
    policy = (
        "default-src 'none'; img-src 'self' data: blob: file:; "
        f"style-src {_hash(STYLE)}; script-src {_hash(SCRIPT)}; "
        "base-uri 'none'; form-action 'none'"
    )
    esc = html.escape
    return _PAGE.format(
        policy=esc(policy),
        title=esc(f"{name}: batch_gen gallery"),
        name=esc(name),
        manifest=esc(gallery.manifest),
        output=esc(gallery.output),
        built=esc(built.isoformat(timespec="seconds")),
        summary=esc(summary_line(gallery)),
        style=STYLE,
        data=embed_json(page_data(gallery, thumbs, built=built)),
        script=SCRIPT,
    )


def _hash(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="batch_gen">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header id="top">
<h1>{name}</h1>
<p class="where">manifest <code>{manifest}</code> · output <code>{output}</code> ·
built {built}</p>
<p id="summary">{summary}</p>
</header>
<nav id="toolbar" aria-label="Filters">
<div id="filters" role="group" aria-label="Show"></div>
<input id="search" type="search" placeholder="Search id, prompt, model, error  ( / )"
 aria-label="Search" autocomplete="off">
<label>Sort <select id="sort">
<option value="manifest">manifest order</option>
<option value="id">id</option>
<option value="status">status: failed first</option>
<option value="cost">cost: highest first</option>
<option value="attempts">attempts: most first</option>
<option value="billed">possibly billed first</option>
<option value="newest">newest first</option>
</select></label>
<span id="shown" aria-live="polite"></span>
<span class="spacer"></span>
<button id="export" type="button" disabled>Export rejections</button>
<button id="clear" type="button" disabled>Clear</button>
<a id="download" hidden></a>
</nav>
<p id="keys">← → ↑ ↓ or j k: move · Enter: open · x: reject · /: search · Esc: close</p>
<noscript><p>This page draws its images with JavaScript: allow it for this file.</p></noscript>
<main id="grid" role="list" aria-label="Jobs"></main>
<p id="empty" hidden>No job matches.</p>
<div id="lightbox" role="dialog" aria-modal="true" aria-labelledby="lb-title" hidden>
<div id="lb-images">
<section id="lb-current"><h2>Current</h2><div class="lb-row"></div></section>
<section id="lb-previous" hidden><h2></h2><div class="lb-row"></div></section>
</div>
<aside id="lb-info">
<div class="lb-nav">
<button id="lb-back" type="button" aria-label="Previous job">←</button>
<button id="lb-forward" type="button" aria-label="Next job">→</button>
<button id="lb-reject" type="button">Reject (x)</button>
<button id="lb-close" type="button">Close (Esc)</button>
</div>
<h2 id="lb-title"></h2>
<div id="lb-text"></div>
<details id="lb-facts"><summary>Metadata file</summary><pre></pre></details>
</aside>
</div>
<script type="application/json" id="gallery-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
