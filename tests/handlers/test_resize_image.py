"""``resize_image`` with real images, from artifacts and from a loopback web server."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conveyor.handlers import HandlerSettings, build_handlers
from conveyor.worker.context import HandlerError
from tests.handlers.conftest import NodeSide, make_run
from tests.server import serve_asgi


def image_bytes(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color=0).save(out, format=fmt)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


FILES = {
    "photo.jpg": (image_bytes((400, 200), "JPEG"), "image/jpeg"),
    "logo.png": (image_bytes((300, 300), "PNG", "RGBA"), "image/png"),
    "notes.txt": (b"this is not an image", "text/plain"),
    # Tiny on disk, 25 megapixels once decoded.
    "bomb.png": (image_bytes((5000, 5000), "PNG", "1"), "image/png"),
}


@pytest.fixture
async def image_server() -> AsyncIterator[str]:
    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in FILES:
            return Response(status_code=404)
        data, content_type = FILES[name]
        return Response(data, media_type=content_type)

    async with serve_asgi(Starlette(routes=[Route("/{name}", serve)])) as base_url:
        yield base_url


def handler(**extra: Any) -> Any:
    return build_handlers(HandlerSettings(image_max_pixels=10_000_000, **extra))["resize_image"]


async def _put(side: NodeSide, name: str) -> str:
    data, content_type = FILES[name]
    return (await side.artifacts.upload(name, data, content_type)).id


async def test_fits_an_artifact_into_a_box(resize_side: NodeSide) -> None:
    run = resize_side.run("resize_image")
    params = {"artifact_id": await _put(resize_side, "photo.jpg"), "width": 100, "height": 100}
    result = await handler()(params, run.ctx)
    assert (result["width"], result["height"], result["format"]) == (100, 50, "PNG")
    out = await resize_side.artifacts.download(result["artifact_id"])
    img = decoded(out)
    assert img.format == "PNG" and img.size == (100, 50)
    info = await resize_side.artifacts.info(result["artifact_id"])
    assert info.name == "resized.png" and info.content_type == "image/png"
    assert run.progress[-1]["percent"] == 100


async def test_exact_size_to_jpeg_from_a_loopback_url(
    resize_side: NodeSide, image_server: str
) -> None:
    params = {
        "url": f"{image_server}/logo.png",
        "width": 64,
        "height": 32,
        "mode": "exact",
        "format": "jpeg",
        "name": "thumb",
    }
    result = await handler()(params, resize_side.run("resize_image").ctx)
    img = decoded(await resize_side.artifacts.download(result["artifact_id"]))
    assert img.format == "JPEG" and img.size == (64, 32)


@pytest.mark.parametrize(
    "url",
    ["http://example.com/logo.png", "http://10.0.0.1/logo.png", "file:///etc/passwd"],
)
async def test_refuses_hosts_off_the_allow_list(url: str) -> None:
    with pytest.raises(HandlerError) as caught:
        await handler()({"url": url, "width": 10}, make_run("resize_image").ctx)
    assert caught.value.code == "url_not_allowed" and not caught.value.retryable


async def test_refuses_what_is_not_an_image(resize_side: NodeSide, image_server: str) -> None:
    for params in (
        {"artifact_id": await _put(resize_side, "notes.txt"), "width": 10},
        {"url": f"{image_server}/notes.txt", "width": 10},
    ):
        with pytest.raises(HandlerError) as caught:
            await handler()(params, resize_side.run("resize_image").ctx)
        assert caught.value.code == "invalid_image" and not caught.value.retryable


async def test_refuses_decompression_bombs(resize_side: NodeSide, image_server: str) -> None:
    with pytest.raises(HandlerError) as caught:
        await handler()({"url": f"{image_server}/bomb.png", "width": 10}, make_run("x").ctx)
    assert caught.value.code == "image_too_large" and not caught.value.retryable


async def test_caps_downloads(resize_side: NodeSide, image_server: str) -> None:
    small = handler(fetch_max_bytes=100)
    for params in (
        {"url": f"{image_server}/photo.jpg", "width": 10},
        {"artifact_id": await _put(resize_side, "photo.jpg"), "width": 10},
    ):
        with pytest.raises(HandlerError) as caught:
            await small(params, resize_side.run("resize_image").ctx)
        assert caught.value.code == "too_large"


async def test_missing_sources_fail_for_good(resize_side: NodeSide, image_server: str) -> None:
    for params, code in (
        ({"url": f"{image_server}/missing.png", "width": 10}, "fetch_failed"),
        ({"artifact_id": "no-such-artifact", "width": 10}, "artifact_unavailable"),
    ):
        with pytest.raises(HandlerError) as caught:
            await handler()(params, resize_side.run("resize_image").ctx)
        assert caught.value.code == code and not caught.value.retryable


@pytest.mark.parametrize(
    "params",
    [
        {"width": 10},
        {"url": "http://127.0.0.1/x", "artifact_id": "a", "width": 10},
        {"artifact_id": "a"},
        {"artifact_id": "a", "width": 10, "mode": "exact"},
        {"artifact_id": "a", "width": 0},
        {"artifact_id": "a", "width": 10, "format": "GIF"},
    ],
)
async def test_bad_params(params: dict[str, Any]) -> None:
    with pytest.raises(HandlerError) as caught:
        await handler()(params, make_run("resize_image").ctx)
    assert caught.value.code == "invalid_params"
