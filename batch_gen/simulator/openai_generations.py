"""``POST /v1/images/generations`` (JSON): CometAPI's OpenAI-style image generation.

After the gateway's admission, the fields are validated per model family (400, or 503
``model_not_found``), then answered by :func:`.openai_answers.answer_images`. See
``docs/protocols/openai.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.errors import CometError
from batch_gen.simulator.gateway import Admission, Body, Call, endpoint
from batch_gen.simulator.openai_answers import answer_images
from batch_gen.simulator.openai_plans import (
    Family,
    Plan,
    checked_prompt,
    model_family,
    plan_dall_e,
    plan_gpt_image,
    plan_qwen,
    plan_seedream,
)
from batch_gen.simulator.routing import Route, SimApi


def plan_generation(body: Mapping[str, Any]) -> Plan:
    """Validate a generations body the way CometAPI and the upstream model would."""
    model, family = model_family(body)
    prompt = checked_prompt(body, family)
    if family is Family.GPT_IMAGE:
        return plan_gpt_image(body, model, prompt)
    if family in (Family.DALL_E_2, Family.DALL_E_3):
        return plan_dall_e(body, family, model, prompt)
    if family is Family.QWEN:
        return plan_qwen(body, model, prompt)
    if family is Family.SEEDREAM:
        return plan_seedream(body, model, prompt)
    raise CometError(
        400,
        f"Invalid value for 'model': {model} edits images; use /v1/images/edits.",
        param="model",
        code="invalid_value",
    )


async def _generations(call: Call) -> web.StreamResponse:
    return await answer_images(call, plan_generation(call.json))


ADMISSION: Final = Admission(body=Body.JSON)
API: Final = SimApi(
    routes=(Route("POST", "/v1/images/generations", endpoint(ADMISSION, _generations)),)
)
