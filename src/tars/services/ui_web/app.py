"""The web UI's HTTP side: the page, its static ES modules, the JSON API and the WebSocket.

No MQTT here: everything that reaches the bus goes through the `Relay` the service
provides, so the browser never holds broker credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.base import RequestResponseEndpoint

from tars.contracts.base import SatelliteId
from tars.services.ui_web.access import TOKEN_COOKIE
from tars.services.ui_web.context import UiContext, presented_token
from tars.services.ui_web.limits import TokenBucket
from tars.services.ui_web.socket import serve_socket

STATIC_DIR = Path(__file__).with_name("static")
"""The front end: plain ES modules, served as they are (no Node.js at run time)."""
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    # Only this server's own scripts, styles and sockets; no framing by other sites.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_LOCKED_PAGE = """<!doctype html><meta charset="utf-8"><title>TARS: token needed</title>
<body style="font:16px system-ui;background:#0f1419;color:#e6e6e6;padding:3em">
<h1>This TARS dashboard is protected</h1>
<p>Open the address <code>tars up</code> printed: it ends in <code>/?token=...</code>.</p>"""


class SayRequest(BaseModel):
    """A typed turn."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    """What to say to TARS."""
    satellite: SatelliteId | None = None
    """Satellite it comes from (the page's own by default)."""


class TraitRequest(BaseModel):
    """A new level for one persona trait."""

    model_config = ConfigDict(extra="forbid")
    trait: str = Field(pattern=r"^[A-Za-z0-9_ -]{1,64}$")
    """Trait name."""
    value: int = Field(ge=0, le=100)
    """New level, 0..100."""


def create_app(context: UiContext) -> FastAPI:
    """The FastAPI application of the web UI."""
    app = FastAPI(title="TARS", docs_url=None, redoc_url=None, openapi_url=None)
    settings, access, metrics = context.settings, context.access, context.metrics
    control = TokenBucket(settings.control_rate_per_s, max(2.0, 2 * settings.control_rate_per_s))

    @app.middleware("http")
    async def guard(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not access.host_ok(request.headers.get("host")):
            metrics.inc("refused.host")
            return Response("unknown host", status_code=400)
        if not access.allowed(presented_token(request)):
            metrics.inc("refused.token")
            if request.url.path.startswith("/api/"):
                return JSONResponse({"detail": "token required"}, status_code=401)
            return HTMLResponse(_LOCKED_PAGE, status_code=401)
        if request.method in ("POST", "PUT"):
            length = request.headers.get("content-length")
            if (
                length is None
                or not length.isdigit()
                or int(length) > settings.max_ws_message_bytes
            ):
                metrics.inc("rejected_input.body_size")
                return JSONResponse({"detail": "body missing or too large"}, status_code=413)
            if not control.take():
                metrics.inc("rejected_input.rate")
                return JSONResponse({"detail": "too many requests"}, status_code=429)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        metrics.inc("rejected_input.invalid_request")
        return JSONResponse({"detail": error.errors()[:5]}, status_code=422)

    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Response:
        if access.required and "token" in request.query_params:
            # The token came in the address: keep it in a cookie and drop it from the URL.
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(
                TOKEN_COOKIE,
                access.token or "",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
            return response
        return FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/state")
    async def state() -> dict[str, Any]:
        return context.hub.snapshot(settings.satellite)

    @app.get("/api/config")
    async def config() -> dict[str, Any]:
        return {"settings": context.configuration()}

    @app.post("/api/say")
    async def say(body: SayRequest) -> dict[str, str]:
        text = body.text.strip()
        if not text or len(text) > settings.max_text_chars:
            metrics.inc("rejected_input.text_length")
            raise HTTPException(422, f"text must be 1..{settings.max_text_chars} characters")
        utt_id = await context.relay.say(text, body.satellite or settings.satellite)
        return {"utt_id": utt_id}

    @app.get("/api/memory")
    async def memory(
        q: str = Query(min_length=1, max_length=10_000), k: int = Query(default=5, ge=1, le=20)
    ) -> dict[str, Any]:
        if len(q) > settings.max_text_chars:
            metrics.inc("rejected_input.text_length")
            raise HTTPException(422, "query too long")
        if not control.take():
            metrics.inc("rejected_input.rate")
            raise HTTPException(429, "too many requests")
        try:
            return await context.relay.search_memory(q, k)
        except TimeoutError as err:
            raise HTTPException(504, "the memory service did not answer") from err

    @app.post("/api/character/traits")
    async def trait(body: TraitRequest) -> dict[str, bool]:
        await context.relay.set_trait(body.trait, body.value)
        return {"ok": True}

    @app.post("/api/character/reset")
    async def reset() -> dict[str, bool]:
        await context.relay.reset_traits()
        return {"ok": True}

    @app.websocket("/ws")
    async def websocket(socket: WebSocket) -> None:
        await serve_socket(socket, context)

    return app
