"""The API registry: every client route name is served, registered and priced."""

from __future__ import annotations

import re

from batch_gen.simulator.apis import REGISTRY, served_apis
from batch_gen.simulator.catalog import CATALOG
from batch_gen.simulator.server import create_app

ROUTE_NAMES = {
    "openai.generations",
    "openai.edits",
    "gemini",
    "midjourney",
    "flux",
    "bria",
    "bria.edit",
}


def test_every_route_name_is_served_with_paths_and_models() -> None:
    served = served_apis()
    assert set(served) == ROUTE_NAMES
    for name, api in served.items():
        assert api.paths, name
        assert api.models, name


def test_the_app_registers_exactly_the_registry_paths_plus_infrastructure() -> None:
    app = create_app()
    registered = {resource.canonical for resource in app.router.resources()}
    # aiohttp's canonical form drops the regex of a {name:regex} part.
    api_paths = {
        re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)
        for api in served_apis().values()
        for path in api.paths
    }
    assert api_paths <= registered
    infrastructure = {
        "/api/models",
        "/v1/models",
        "/files/{token}.{ext}",
        "/_sim/stats",
        "/_sim/reset",
        "/",
    }
    assert registered - api_paths == infrastructure


def test_catalog_records_name_only_registered_apis() -> None:
    named = {api for record in CATALOG for api in record.apis}
    assert named == set(REGISTRY)
    text_models = [record.id for record in CATALOG if not record.apis]
    assert text_models == ["gpt-4o-mini", "gemini-2.5-flash"]


def test_models_are_listed_per_api() -> None:
    served = served_apis()
    assert "qwen-image-edit" in served["openai.edits"].models
    assert "qwen-image-edit" not in served["openai.generations"].models
    assert served["bria"].models == ("bria-text-to-image",)
    assert "bria-erase" in served["bria.edit"].models
    assert "mj_relax_imagine" in served["midjourney"].models
