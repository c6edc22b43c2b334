"""Reading an edits body: multipart/form-data into text fields and file parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import BodyPartReader, web

from batch_gen.simulator.content import format_label
from batch_gen.simulator.stats import UploadStats

IMAGE_PARTS: Final = ("image", "image[]")
FILE_PARTS: Final = (*IMAGE_PARTS, "mask")


@dataclass(frozen=True, slots=True)
class FilePart:
    """One uploaded file."""

    part: str
    """The form part's name: ``image``, ``image[]`` or ``mask``."""
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Form:
    """A parsed multipart body: the last value of each text field, and the file parts."""

    fields: Mapping[str, str]
    images: Sequence[FilePart]
    mask: FilePart | None
    text_image: bool
    """An ``image`` part came as a plain text field rather than a file."""

    def upload_stats(self) -> UploadStats:
        """What stats record of this upload."""
        return UploadStats(
            images=len(self.images),
            mask=self.mask is not None,
            names=tuple(item.filename for item in self.images),
            parts=tuple(item.part for item in self.images),
            formats=tuple(format_label(item.data) for item in self.images),
        )


async def read_form(request: web.Request) -> Form | None:
    """Parse a multipart/form-data body; None when the body is not one (or is malformed).

    A urlencoded form (what a client sends when it forgot the files) is read for its fields,
    so that the answer can name the missing image.
    """
    if request.content_type == "application/x-www-form-urlencoded":
        posted = await request.post()
        plain = {name: value for name, value in posted.items() if isinstance(value, str)}
        return Form(fields=plain, images=[], mask=None, text_image="image" in plain)
    if request.content_type != "multipart/form-data":
        return None
    fields: dict[str, str] = {}
    images: list[FilePart] = []
    mask: FilePart | None = None
    text_image = False
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name in FILE_PARTS and part.filename is not None:
                item = FilePart(part=part.name, filename=part.filename, data=await part.read())
                if part.name == "mask":
                    mask = item
                else:
                    images.append(item)
            else:
                text_image = text_image or part.name in FILE_PARTS
                fields[part.name] = await part.text()
    except (ValueError, AssertionError, UnicodeDecodeError):
        # aiohttp reports a malformed multipart body with these.
        return None
    return Form(fields=fields, images=images, mask=mask, text_image=text_image)
