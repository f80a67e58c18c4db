"""The FastAPI application: wiring of routers, templates, static files, errors and headers."""

from __future__ import annotations

import os
from importlib import resources
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from covalue import __version__
from covalue.errors import CovalueError
from covalue.store import Store
from covalue.web import api, pages
from covalue.web.deps import LoginRequired, csrf_protect
from covalue.web.repository import WebError, WebStore
from covalue.web.suggestions import DEFAULT_MODEL, Suggester

#: No inline script or style: even if some text slipped through unescaped it could not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


#: Environment of the worker processes of ``covalue serve --workers N`` (uvicorn starts them by import string).
DATABASE_ENV = "COVALUE_DATABASE_URL"
SUGGESTIONS_ENV = "COVALUE_SUGGESTION_MODEL"


def app_from_environment() -> FastAPI:
    """The app of one uvicorn worker process: the database and suggestion model come from the environment.

    Every worker opens its own store. Sessions, versions and the per-coder row locks live in the
    database, so requests of one user may land on any worker.
    """
    store = Store.open(os.environ[DATABASE_ENV])
    return create_app(store, suggestion_model=os.environ.get(SUGGESTIONS_ENV) or None)


def create_app(store: Store, *, suggestion_model: str | None = DEFAULT_MODEL) -> FastAPI:
    """The workbench over an open store; ``suggestion_model=None`` turns live suggestions off."""
    app = FastAPI(
        title="covalue workbench API",
        version=__version__,
        description="Team coding of service incidents for value co-creation and co-destruction.",
        docs_url=None,  # Swagger UI loads from a CDN; the workbench must work offline
        redoc_url=None,
        openapi_url="/api/openapi.json",
        dependencies=[Depends(csrf_protect)],
    )
    package = resources.files("covalue.web")
    app.state.web = WebStore(store)
    app.state.suggester = Suggester(suggestion_model)
    app.state.templates = Jinja2Templates(directory=str(package / "templates"))
    app.state.templates.env.globals["version"] = __version__
    app.mount("/static", StaticFiles(directory=str(package / "static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError) -> Response:
        return _error(request, str(exc), exc.status, login=isinstance(exc, LoginRequired))

    @app.exception_handler(CovalueError)
    async def covalue_error(request: Request, exc: CovalueError) -> Response:
        return _error(request, str(exc), 400)

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.url.path.startswith("/api/") or (
            request.method == "GET" and not request.url.path.startswith("/static/")
        ):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def _error(request: Request, message: str, status: int, *, login: bool = False) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status)
    if login:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
    return pages.render(request, "error.html", status_code=status, status=status, message=message)
