"""The image tools: each reads one confined, header-checked image and writes one into the run's
media folder, around the pure operations of tools.pure.images."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from tools.pure.images import (
    IMAGE_SUFFIXES,
    PERTURBATIONS,
    Box,
    Color,
    crop,
    fit_aspect,
    grid,
    load_image,
    mark,
    occlude,
    pad,
    perturb,
    random_boxes,
    rotate,
    save_image,
    scale_to_fit,
)
from tools.pure.patching import suffixed
from tools.registry import InputPath, OutputName, ToolError, Workspace, tool
from tools.safety import UnsafeInputError

ImageName = Annotated[OutputName, suffixed(*IMAGE_SUFFIXES)]
Seed = Annotated[int | None, Field(ge=0, description="Random seed; default the run's seed.")]


def read_image(ws: Workspace, rel: str) -> np.ndarray:
    """A confined, header-checked input image as BGR; hostile or broken files raise ToolError."""
    try:
        return load_image(ws.input(rel))
    except UnsafeInputError as exc:
        raise ToolError(str(exc)) from None


def write_image(ws: Workspace, name: str, image: np.ndarray) -> Path:
    path = ws.output(name)
    save_image(path, image)
    return path


class ImageIO(BaseModel):
    image: InputPath
    out: ImageName = Field(description="Image to write in the media folder; .png keeps pixels exact.")


ImageFn = Callable[[np.ndarray, Any, Workspace], tuple[np.ndarray, dict[str, Any]]]


def image_tool(name: str, params: type[ImageIO], description: str) -> Callable[[ImageFn], ImageFn]:
    """Register `fn(image, params, ws) -> (image, values)` as a tool that reads `image` and writes `out`."""

    def wrap(fn: ImageFn) -> ImageFn:
        @tool(name, params, description)
        def run(p: ImageIO, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
            image = read_image(ws, p.image)
            try:
                result, values = fn(image, p, ws)
            except ValueError as exc:
                raise ToolError(f"{name}: {exc}") from None
            h, w = result.shape[:2]
            return [write_image(ws, p.out, result)], {"width": w, "height": h, **values}

        return fn

    return wrap


class ResizeParams(ImageIO):
    width: int | None = Field(None, ge=1, le=20000, description="Target width; alone, keeps the aspect ratio.")
    height: int | None = Field(None, ge=1, le=20000, description="Target height; alone, keeps the aspect ratio.")
    scale: float | None = Field(None, gt=0, le=8, description="Scale factor, instead of width/height.")
    aspect: str | None = Field(None, pattern=r"^\d{1,4}:\d{1,4}$",
                               description="Target aspect ratio 'W:H', reached exactly by cropping or padding first.")
    fit: Literal["crop", "pad"] = Field("crop", description="How to reach `aspect`: centre crop or pad.")
    pad_color: Color = "#000000"

    @model_validator(mode="after")
    def _one_target(self) -> ResizeParams:
        sized = self.width is not None or self.height is not None
        if self.scale is not None and sized:
            raise ValueError("give scale or width/height, not both")
        if self.aspect and self.width is not None and self.height is not None:
            raise ValueError("with aspect give width or height, not both (they would fix another ratio)")
        if not (sized or self.scale is not None or self.aspect):
            raise ValueError("give width, height, scale or aspect")
        return self


@image_tool("resize_image", ResizeParams,
            "Resize an image to a width and/or height or by a scale, optionally after cropping or padding it to "
            "an exact aspect ratio.")
def _resize_tool(image: np.ndarray, p: ResizeParams, ws: Workspace) -> tuple[np.ndarray, dict[str, Any]]:
    if p.aspect:
        image = fit_aspect(image, p.aspect, p.fit, p.pad_color)
    sizes = {k: v for k, v in (("width", p.width), ("height", p.height), ("scale", p.scale)) if v is not None}
    return (perturb(image, "resize", 0, **sizes) if sizes else image), {}


class CropPadParams(ImageIO):
    box: Box | None = Field(None, description="Region to keep.")
    pad_width: int | None = Field(None, ge=1, le=20000, description="Pad (centred) to this width.")
    pad_height: int | None = Field(None, ge=1, le=20000, description="Pad (centred) to this height.")
    color: Color = "#000000"

    @model_validator(mode="after")
    def _something(self) -> CropPadParams:
        if self.box is None and self.pad_width is None and self.pad_height is None:
            raise ValueError("give a box to crop or a pad size")
        return self


@image_tool("crop_pad_image", CropPadParams,
            "Crop an image to a box and/or pad it, centred, to a larger size with a colour.")
def _crop_pad_tool(image: np.ndarray, p: CropPadParams, ws: Workspace) -> tuple[np.ndarray, dict[str, Any]]:
    if p.box is not None:
        image = crop(image, p.box)
    if p.pad_width is not None or p.pad_height is not None:
        h, w = image.shape[:2]
        image = pad(image, p.pad_width or w, p.pad_height or h, p.color)
    return image, {"box": p.box.model_dump() if p.box else None}


class BlurParams(ImageIO):
    sigma: float = Field(PERTURBATIONS["blur"]["sigma"], gt=0, le=50, description="Gaussian sigma in pixels.")


@image_tool("blur_image", BlurParams, "Gaussian-blur an image.")
def _blur_tool(image: np.ndarray, p: BlurParams, ws: Workspace) -> tuple[np.ndarray, dict[str, Any]]:
    return perturb(image, "blur", 0, sigma=p.sigma), {}


class NoiseParams(ImageIO):
    std: float = Field(PERTURBATIONS["noise"]["std"], ge=0, le=128, description="Gaussian std in 0..255 levels.")
    seed: Seed = None


@image_tool("noise_image", NoiseParams, "Add seeded Gaussian pixel noise to an image.")
def _noise_tool(image: np.ndarray, p: NoiseParams, ws: Workspace) -> tuple[np.ndarray, dict[str, Any]]:
    seed = ws.seed if p.seed is None else p.seed
    return perturb(image, "noise", seed, std=p.std), {"seed": seed}


class JpegParams(ImageIO):
    quality: int = Field(PERTURBATIONS["jpeg"]["quality"], ge=1, le=100,
                         description="JPEG quality; the artefacts are kept exactly when `out` is a .png.")


@image_tool("jpeg_image", JpegParams, "Round-trip an image through JPEG at a quality to add compression artefacts.")
def _jpeg_tool(image: np.ndarray, p: JpegParams, ws: Workspace) -> tuple[np.ndarray, dict[str, Any]]:
    return perturb(image, "jpeg", 0, quality=p.quality), {}


class OccludeParams(ImageIO):
    boxes: list[Box] = Field(default_factory=list, max_length=64, description="Rectangles to fill.")
    patches: int = Field(0, ge=0, le=64, description="Random square patches to fill as well.")
    patch_side: float = Field(0.1, gt=0, le=1, description="Patch side as a fraction of the shorter image side.")
    color: Color = "#000000"
    seed: Seed = None

    @model_validator(mode="after")
    def _something(self) -> OccludeParams:
        if not self.boxes and not self.patches:
            raise ValueError("give boxes or a number of random patches")
        return self


@image_tool("occlude_image", OccludeParams, "Fill rectangles, given or random by seed, with a solid colour.")
def _occlude_tool(image: np.ndarray, p: OccludeParams, ws: Workspace) -> tuple[np.ndarray, dict[str, Any]]:
    seed = ws.seed if p.seed is None else p.seed
    h, w = image.shape[:2]
    boxes = [*p.boxes, *random_boxes(w, h, p.patches, p.patch_side, np.random.default_rng(seed))]
    return occlude(image, boxes, p.color), {"boxes": [b.model_dump() for b in boxes], "seed": seed}


class RotateParams(ImageIO):
    degrees: float = Field(ge=-360, le=360, description="Counter-clockwise angle; multiples of 90 are exact.")
    expand: bool = Field(True, description="Grow the canvas to keep the corners, else keep the size and clip.")
    color: Color = Field("#000000", description="Fill for the uncovered corners.")


@image_tool("rotate_image", RotateParams, "Rotate an image by an angle, expanding the canvas or not.")
def _rotate_tool(image: np.ndarray, p: RotateParams, ws: Workspace) -> tuple[np.ndarray, dict[str, Any]]:
    return rotate(image, p.degrees, p.expand, p.color), {}


class MarkParams(ImageIO):
    box: Box = Field(description="Region to mark.")
    style: Literal["outline", "mask"] = Field(
        "outline", description="'outline' frames the box; 'mask' tints everything outside it.")
    color: Color = "#FF0000"
    thickness: int = Field(3, ge=1, le=50, description="Outline width in pixels, drawn just outside the box.")
    opacity: float = Field(0.7, ge=0, le=1, description="Tint strength outside the box for 'mask'.")


@image_tool("mark_region", MarkParams,
            "Highlight a box in an image with an outline or by masking everything else, for 'which region is "
            "marked' items; the box is returned.")
def _mark_tool(image: np.ndarray, p: MarkParams, ws: Workspace) -> tuple[np.ndarray, dict[str, Any]]:
    return mark(image, p.box, p.style, p.color, p.thickness, p.opacity), {"box": p.box.model_dump(), "style": p.style}


Label = Annotated[str, Field(max_length=32, pattern=r"^[ -~]*$", description="Printable ASCII label.")]


class GridParams(BaseModel):
    images: list[InputPath] = Field(min_length=1, max_length=64, description="Images in row-major order.")
    out: ImageName = Field(description="Image to write in the media folder; .png keeps pixels exact.")
    rows: int | None = Field(None, ge=1, le=16, description="Rows; default enough for `cols`.")
    cols: int | None = Field(None, ge=1, le=16, description="Columns; default the ceiling of the square root.")
    cell_width: int | None = Field(None, ge=8, le=4096, description="Cell width; default the first image's.")
    cell_height: int | None = Field(None, ge=8, le=4096, description="Cell height; default the first image's.")
    gap: int = Field(4, ge=0, le=64, description="Pixels between and around cells.")
    background: Color = "#FFFFFF"
    labels: list[Label] = Field(default_factory=list, description="One label per image, drawn under its cell.")


@tool("image_grid", GridParams,
      "Compose several images into a rows x cols grid of uniform cells, optionally labelled; returns each cell's box.")
def _grid_tool(p: GridParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    n = len(p.images)
    cols = p.cols or (math.ceil(n / p.rows) if p.rows else math.ceil(math.sqrt(n)))
    rows = p.rows or math.ceil(n / cols)
    first = read_image(ws, p.images[0])
    width, height = p.cell_width or first.shape[1], p.cell_height or first.shape[0]
    # Shrink each image as it is read, so only one full-size decode is alive at a time; grid() then
    # finds them already fitted.
    images = [scale_to_fit(first, width, height)]
    del first
    images += [scale_to_fit(read_image(ws, rel), width, height) for rel in p.images[1:]]
    try:
        canvas, cells = grid(images, rows, cols, width, height, p.gap, p.background, p.labels or None)
    except ValueError as exc:
        raise ToolError(f"image_grid: {exc}") from None
    return [write_image(ws, p.out, canvas)], {"rows": rows, "cols": cols, "width": canvas.shape[1],
                                              "height": canvas.shape[0], "cells": cells}
