"""``resize_image``: an image from an artifact or an allowed URL, resized, stored back.

Images come from strangers: only a few formats are decoded, the pixel count is
checked before decoding, and downloads are capped, so a small file cannot make the
worker allocate gigabytes.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from typing import Any, Literal

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from conveyor.client.artifacts import ArtifactError
from conveyor.handlers.base import Handler, artifacts_of, parse_params, resolve, stop_if_cancelled
from conveyor.handlers.config import HandlerSettings
from conveyor.handlers.urls import check_url
from conveyor.worker.context import HandlerError, TaskContext

INPUT_FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "BMP"]
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
MAX_SIDE = 10_000


class ResizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    artifact_id: str | None = Field(default=None, min_length=1, max_length=64)
    url: str | None = Field(default=None, max_length=2048)
    width: int | None = Field(default=None, ge=1, le=MAX_SIDE)
    height: int | None = Field(default=None, ge=1, le=MAX_SIDE)
    mode: Literal["fit", "exact"] = "fit"
    format: Literal["PNG", "JPEG", "WEBP"] = "PNG"
    quality: int = Field(default=85, ge=1, le=100)
    name: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("format", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        value = value.upper() if isinstance(value, str) else value
        return "JPEG" if value == "JPG" else value

    @model_validator(mode="after")
    def _consistent(self) -> ResizeParams:
        if (self.artifact_id is None) == (self.url is None):
            raise ValueError("give exactly one of artifact_id and url")
        if self.width is None and self.height is None:
            raise ValueError("give width, height or both")
        if self.mode == "exact" and (self.width is None or self.height is None):
            raise ValueError("mode 'exact' needs both width and height")
        return self


def _refuse(message: str, code: str) -> HandlerError:
    return HandlerError(message, retryable=False, code=code)


async def fetch_url(url: httpx.URL, cfg: HandlerSettings) -> bytes:
    # No redirects: a redirect could lead to a host the allow-list never saw.
    async with httpx.AsyncClient(timeout=cfg.fetch_timeout, follow_redirects=False) as client:
        try:
            async with client.stream("GET", url) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise HandlerError(f"fetch failed: HTTP {response.status_code}")
                if response.status_code != 200:
                    raise _refuse(f"fetch failed: HTTP {response.status_code}", "fetch_failed")
                chunks, seen = [], 0
                async for chunk in response.aiter_bytes():
                    seen += len(chunk)
                    if seen > cfg.fetch_max_bytes:
                        raise _refuse(f"the image is over {cfg.fetch_max_bytes} bytes", "too_large")
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise HandlerError(f"fetch failed: {type(exc).__name__}: {exc}") from exc
    return b"".join(chunks)


async def fetch_artifact(ctx: TaskContext, artifact_id: str, cfg: HandlerSettings) -> bytes:
    artifacts = artifacts_of(ctx)
    try:
        info = await artifacts.info(artifact_id)
        if info.size > cfg.fetch_max_bytes:
            raise _refuse(f"the image is over {cfg.fetch_max_bytes} bytes", "too_large")
        return await artifacts.download(artifact_id)
    except ArtifactError as exc:
        if exc.status >= 500 or exc.status == 429:
            raise HandlerError(f"artifact unavailable: {exc}") from exc
        raise _refuse(
            f"artifact {artifact_id} cannot be read: {exc}", "artifact_unavailable"
        ) from exc


def _target_size(p: ResizeParams, size: tuple[int, int]) -> tuple[int, int]:
    w, h = size
    if p.mode == "exact" and p.width and p.height:
        return p.width, p.height
    box_w = p.width or max(1, round(w * (p.height or h) / h))
    box_h = p.height or max(1, round(h * (p.width or w) / w))
    scale = min(box_w / w, box_h / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def transform(data: bytes, p: ResizeParams, max_pixels: int) -> tuple[bytes, int, int]:
    """Decode, resize and encode; runs in a thread, it is CPU-bound."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; make that an error too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=INPUT_FORMATS) as img:
                if img.width * img.height > max_pixels:
                    raise _refuse(
                        f"the image has {img.width}x{img.height} pixels, over {max_pixels}",
                        "image_too_large",
                    )
                img.load()
                upright = ImageOps.exif_transpose(img)
                resized = upright.resize(_target_size(p, upright.size), Image.Resampling.LANCZOS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _refuse(f"refusing a decompression bomb: {exc}", "image_too_large") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _refuse(f"not a readable image: {exc}", "invalid_image") from exc
    if p.format == "JPEG" and resized.mode not in ("RGB", "L"):
        resized = resized.convert("RGB")
    out = io.BytesIO()
    options: dict[str, Any] = {"quality": p.quality} if p.format != "PNG" else {"optimize": True}
    resized.save(out, format=p.format, **options)
    return out.getvalue(), resized.width, resized.height


def make_resize_image(settings: HandlerSettings | None = None) -> Handler:
    async def resize_image(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        p = parse_params(ResizeParams, params)
        cfg = resolve(settings)
        if p.url is not None:
            data = await fetch_url(
                check_url(p.url, cfg.fetch_allowed_hosts, "CONVEYOR_FETCH_ALLOWED_HOSTS"), cfg
            )
        else:
            data = await fetch_artifact(ctx, p.artifact_id or "", cfg)
        await ctx.progress({"stage": "downloaded", "bytes": len(data), "percent": 30})
        stop_if_cancelled(ctx)
        output, width, height = await asyncio.to_thread(transform, data, p, cfg.image_max_pixels)
        await ctx.progress({"stage": "resized", "percent": 80})
        name = f"{p.name or 'resized'}.{EXTENSIONS[p.format]}"
        ref = await artifacts_of(ctx).upload(
            name, output, CONTENT_TYPES[p.format], task_id=ctx.task_id
        )
        await ctx.progress({"stage": "uploaded", "percent": 100})
        return {"artifact_id": ref.id, "width": width, "height": height, "format": p.format}

    return resize_image
