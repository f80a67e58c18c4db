"""Request dependencies: who is asking, in which project, and whether the CSRF token is right.

Routers declare what they need (``Depends(member)``) and get a :class:`Member` or an error
before their body runs. CSRF is checked for every state-changing request by an app-wide
dependency (:func:`csrf_protect`), so a new route cannot forget it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from covalue.web import security
from covalue.web.repository import Member, NotFound, WebError, WebSession, WebStore

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Sign-in routes check their own CSRF token (there is no session to bind one to yet).
LOGIN_PATHS = frozenset({"/login", "/api/login"})


class LoginRequired(WebError):
    def __init__(self) -> None:
        super().__init__("sign in first", 401)


class CsrfError(WebError):
    def __init__(self) -> None:
        super().__init__("missing or wrong CSRF token; reload the page and try again", 403)


def get_web(request: Request) -> WebStore:
    return request.app.state.web


def optional_session(request: Request) -> WebSession | None:
    """The caller's live session, looked up once per request."""
    if not hasattr(request.state, "web_session"):
        token = request.cookies.get(security.SESSION_COOKIE)
        request.state.web_session = get_web(request).session_for(token)
    return request.state.web_session


def require_session(request: Request) -> WebSession:
    found = optional_session(request)
    if found is None:
        raise LoginRequired()
    return found


def require_admin(session: Annotated[WebSession, Depends(require_session)]) -> WebSession:
    if not session.user.is_admin:
        raise WebError("only a site admin can do this", 403)
    return session


def member(pid: int, request: Request, session: Annotated[WebSession, Depends(require_session)]) -> Member:
    """The caller as a member of project ``pid``; a non-member gets 404 (they must not learn it exists)."""
    found = get_web(request).member(session.user, pid)
    if found is None:
        raise NotFound("no such project")
    return found


SessionDep = Annotated[WebSession, Depends(require_session)]
AdminDep = Annotated[WebSession, Depends(require_admin)]
MemberDep = Annotated[Member, Depends(member)]


async def csrf_protect(request: Request) -> None:
    """Reject a state-changing request whose CSRF token does not match the session's.

    The token comes from the ``X-CSRF-Token`` header (scripts) or the ``csrf_token`` form
    field (HTML forms). Requests without a live session are left to the auth dependencies,
    which refuse them anyway.
    """
    if request.method not in UNSAFE_METHODS or request.url.path in LOGIN_PATHS:
        return
    session = await run_in_threadpool(optional_session, request)
    if session is None:
        return
    given = request.headers.get(security.CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(security.CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not security.tokens_match(session.csrf_token, given):
        raise CsrfError()
