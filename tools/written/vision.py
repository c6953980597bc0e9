"""Image description, for a client whose orchestrator model reads images (LLMClient(vision=True))."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools.registry import Ask, InputPath, ToolError, Workspace, tool
from tools.safety import UnsafeInputError, check_image_header
from tools.written.prompts import WrittenParams, messages, require


class DescribeImageParams(WrittenParams):
    image: InputPath
    focus: str = Field("", max_length=300, description="What the description should attend to.")


class ImageDescription(BaseModel):
    description: str
    objects: list[str] = Field(description="The things visible in the image.")


@tool("describe_image", DescribeImageParams,
      "Describe an image with a vision model: a few sentences and the things visible. Needs a vision model.",
      llm=True)
def describe_image(p: DescribeImageParams, ws: Workspace, ask: Ask) -> tuple[list[Path], dict[str, Any]]:
    if not getattr(ws.llm, "vision", False):
        raise ToolError("describe_image needs a vision model; this run's model is not marked as one "
                        "(LLMClient(..., vision=True))")
    path = ws.input(p.image)
    try:
        check_image_header(path)
    except UnsafeInputError as exc:
        raise ToolError(str(exc)) from None
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    url = f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
    task = ("Describe this image in two to four sentences, then list the things visible in it."
            + (f" Attend to: {p.focus}." if p.focus else ""))
    (_, system), (_, text) = messages(task, {}, p.feedback)
    out = ask([("system", system), ("user", [{"type": "text", "text": text},
                                             {"type": "image_url", "image_url": {"url": url}}])], ImageDescription)
    require(bool(out.description.strip()), "the description is empty")
    return [], {"description": out.description.strip(), "objects": [o.strip() for o in out.objects if o.strip()]}
