"""Server-rendered pages (Jinja2, autoescaped). Forms post with the session's CSRF token.

Pages call the same queries as the API; interactive coding runs in ``static/coding.js``
against the API, with the page's initial state embedded through ``|tojson`` (which escapes
``<``, ``>`` and ``&``, so incident text cannot break out of the script element).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from covalue.errors import CovalueError
from covalue.framework.loader import bundled_codebook_ids, load_codebook
from covalue.web import adjudication, agreement, security, sequences, viewmodels
from covalue.web.api import set_session_cookie
from covalue.web.deps import AdminDep, MemberDep, SessionDep, get_web, optional_session
from covalue.web.repository import ROLES, Forbidden, Member, WebError

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
#: Groups per page of a spiral drill-down (each group lists its incidents).
GROUP_PAGE_SIZE = 20


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = optional_session(request)
    context.setdefault("notice", request.query_params.get("notice"))
    return request.app.state.templates.TemplateResponse(
        request,
        template,
        {"session": session, "csrf_token": session.csrf_token if session else "", **context},
        status_code=status_code,
    )


def back(url: str, notice: str | None = None) -> RedirectResponse:
    path, mark, fragment = url.partition("#")
    if notice:
        path += ("&" if "?" in path else "?") + urlencode({"notice": notice})
    return RedirectResponse(path + mark + fragment, status_code=303)


def _page_urls(request: Request, offset: int, total: int, size: int = PAGE_SIZE) -> dict[str, str | None]:
    """Previous and next page links that keep every other query parameter (filters repeat)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "notice")]

    def url(at: int) -> str:
        return request.url.path + "?" + urlencode([*kept, ("offset", str(at))])

    return {
        "prev_url": url(max(offset - size, 0)) if offset > 0 else None,
        "next_url": url(offset + size) if offset + size < total else None,
    }


def _safe_next(value: str | None) -> str:
    """Only same-site paths: an open redirect after login would help phishing."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


# -- sign in and out --------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:
    token = security.new_token()
    response = render(request, "login.html", next=_safe_next(next), login_csrf=token, error=error)
    response.set_cookie(security.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login")
    return response


@router.post("/login")
def login_submit(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    # Double-submit check: a cross-site page can post the form but cannot read or set our cookie.
    if not security.tokens_match(request.cookies.get(security.LOGIN_CSRF_COOKIE), csrf_token):
        return back("/login?" + urlencode({"next": _safe_next(next), "error": "Your sign-in form expired; try again."}))
    web = get_web(request)
    user = web.authenticate(name, password)
    if user is None:
        return back("/login?" + urlencode({"next": _safe_next(next), "error": "Wrong user name or password."}))
    token, _ = web.create_session(user)
    response = back(_safe_next(next))
    set_session_cookie(response, request, token)
    response.delete_cookie(security.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout_submit(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(security.SESSION_COOKIE)
    if token:
        get_web(request).delete_session(token)
    response = back("/login", "Signed out.")
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response


# -- projects and users -----------------------------------------------------------------------
@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    projects = get_web(request).projects_for(session.user)
    return render(request, "projects.html", projects=projects, codebooks=bundled_codebook_ids())


@router.post("/projects")
def create_project(
    request: Request,
    session: AdminDep,
    name: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    codebook: Annotated[str, Form()] = "vcd",
) -> Response:
    if codebook not in bundled_codebook_ids():
        raise WebError(f"no bundled codebook {codebook!r}")
    try:
        project = get_web(request).create_project(session.user, name, description, load_codebook(codebook))
    except CovalueError as exc:
        return back("/", str(exc))
    return back(f"/p/{project.id}", "Project created. Import incidents with `covalue import`.")


@router.get("/admin/users")
def users_page(request: Request, session: AdminDep) -> Response:
    return render(request, "users.html", users=get_web(request).users())


@router.post("/admin/users")
def users_submit(
    request: Request,
    session: AdminDep,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    is_admin: Annotated[bool, Form()] = False,
) -> Response:
    try:
        get_web(request).create_user(name, password, is_admin=is_admin)
    except (CovalueError, ValueError) as exc:
        return back("/admin/users", str(exc))
    return back("/admin/users", f"User {name} created.")


@router.get("/p/{pid}")
def project_page(request: Request, m: MemberDep) -> Response:
    web = get_web(request)
    _, codebook = web.codebook(m.project)
    return render(
        request,
        "project.html",
        m=m,
        progress=web.progress(m),
        members=web.members(m.project),
        users=[u.name for u in web.users()],
        roles=ROLES,
        codebook=codebook,
        rounds=web.rounds(m)[:5],
        coders=web.visible_coders(m),
    )


@router.post("/p/{pid}/members")
def member_submit(
    request: Request, m: MemberDep, user: Annotated[str, Form()], role: Annotated[str, Form()]
) -> Response:
    if not m.can("owner"):
        raise Forbidden("only a project owner can manage members")
    get_web(request).set_member(m.project, user, role)
    return back(f"/p/{m.project.id}", f"{user} is now {role}.")


@router.post("/p/{pid}/members/{user}/remove")
def member_remove(user: str, request: Request, m: MemberDep) -> Response:
    if not m.can("owner"):
        raise Forbidden("only a project owner can manage members")
    get_web(request).remove_member(m.project, user)
    return back(f"/p/{m.project.id}", f"{user} removed.")


# -- coding -----------------------------------------------------------------------------------
@router.get("/p/{pid}/queue")
def queue_page(request: Request, m: MemberDep) -> Response:
    web = get_web(request)
    return render(
        request,
        "queue.html",
        m=m,
        queue=web.queue(m, 100),
        progress=web.progress(m),
        rounds=[r for r in web.rounds(m) if r.participant and r.status == "open"],
    )


@router.get("/p/{pid}/incidents")
def incidents_page(
    request: Request, m: MemberDep, offset: Annotated[int, Query(ge=0)] = 0, q: str | None = None
) -> Response:
    rows, total = get_web(request).incidents(m, offset=offset, limit=PAGE_SIZE, search=q or None)
    return render(
        request,
        "incidents.html",
        m=m,
        rows=rows,
        total=total,
        offset=offset,
        q=q or "",
        page_size=PAGE_SIZE,
        title="Incidents",
        filters=[],
        coder=None,
        **_page_urls(request, offset, total),
    )


@router.get("/p/{pid}/i/{external_id:path}")
def incident_page(external_id: str, request: Request, m: MemberDep, round: int | None = None) -> Response:
    web = get_web(request)
    row = web.incident_row(m, external_id)
    if round is not None:
        web.round(m, round)
    previous, following = web.neighbours(m, row.id, round)
    _, codebook = web.codebook(m.project)
    state = {
        "project": m.project.id,
        "incident": {"external_id": row.external_id, "text": row.text},
        "codings": [c.to_dict() for c in web.codings_of(m, external_id)],
        "codebook": viewmodels.codebook_tree(codebook),
        "can_code": m.can("coder") and m.coder_id is not None,
        "me": m.coder_name,
        "previous": _incident_url(m, previous, round),
        "next": _incident_url(m, following, round),
    }
    return render(request, "incident.html", m=m, row=row, state=state, round_id=round)


def _incident_url(m: Member, external_id: str | None, round_id: int | None) -> str | None:
    if external_id is None:
        return None
    url = f"/p/{m.project.id}/i/{quote(external_id, safe='')}"
    return url + (f"?round={round_id}" if round_id is not None else "")


# -- rounds -----------------------------------------------------------------------------------
@router.get("/p/{pid}/rounds")
def rounds_page(request: Request, m: MemberDep) -> Response:
    web = get_web(request)
    coders = [x for x in web.members(m.project) if x["role"] != "viewer"]
    return render(request, "rounds.html", m=m, rounds=web.rounds(m), coders=coders)


@router.post("/p/{pid}/rounds")
async def round_submit(request: Request, m: MemberDep) -> Response:
    form = await request.form()
    coders = [str(c) for c in form.getlist("coders")]
    incidents = [line.strip() for line in str(form.get("incidents", "")).splitlines() if line.strip()]
    sample = int(str(form.get("sample") or 0) or 0)
    try:
        view = get_web(request).create_round(
            m, str(form.get("name", "")), coders, incident_ids=incidents, sample=sample, blind=bool(form.get("blind"))
        )
    except WebError as exc:
        if exc.status == 403:
            raise
        return back(f"/p/{m.project.id}/rounds", str(exc))
    return back(f"/p/{m.project.id}/rounds/{view.id}", "Round opened.")


@router.get("/p/{pid}/rounds/{rid}")
def round_page(rid: int, request: Request, m: MemberDep) -> Response:
    web = get_web(request)
    view = web.round(m, rid)
    context: dict[str, Any] = {"m": m, "round": view, "items": web.round_incidents(m, rid)}
    if m.can("owner"):
        context["progress"] = web.round_progress(m, rid)
    if view.status == "closed":
        found = adjudication.results(web, m, rid)
        context["results"] = found
        by_item: dict[str, list[Any]] = {}
        for d in found.disagreements:
            by_item.setdefault(d.item_id, []).append(d)
        context["by_item"] = by_item
        context["codebook"] = found.codebook
    return render(request, "round.html", **context)


@router.post("/p/{pid}/rounds/{rid}/close")
def round_close(rid: int, request: Request, m: MemberDep) -> Response:
    get_web(request).set_round_status(m, rid, "closed")
    return back(f"/p/{m.project.id}/rounds/{rid}", "Round closed: agreement below.")


@router.post("/p/{pid}/rounds/{rid}/reopen")
def round_reopen(rid: int, request: Request, m: MemberDep) -> Response:
    get_web(request).set_round_status(m, rid, "open")
    return back(f"/p/{m.project.id}/rounds/{rid}", "Round reopened.")


@router.post("/p/{pid}/rounds/{rid}/decisions")
async def round_decide(rid: int, request: Request, m: MemberDep) -> Response:
    form = await request.form()
    item_id = str(form.get("item_id", ""))
    choices: dict[str, list[str]] = {}
    for key in form:
        if key.startswith("field:"):
            raw = str(form.get(key, ""))
            choices[key[len("field:") :]] = [c for c in raw.split(";") if c]
    report = adjudication.adjudicate(get_web(request), m, rid, item_id, choices)
    return back(
        f"/p/{m.project.id}/rounds/{rid}#item-{quote(item_id)}",
        f"Recorded the decision on {item_id}: {report.codings} consensus code(s).",
    )


@router.post("/p/{pid}/rounds/{rid}/accept-agreed")
def round_accept(rid: int, request: Request, m: MemberDep) -> Response:
    report = adjudication.accept_agreed(get_web(request), m, rid)
    n = report.incidents if report else 0
    return back(f"/p/{m.project.id}/rounds/{rid}", f"Recorded the agreed codes of {n} incidents as consensus.")


# -- dashboards -------------------------------------------------------------------------------
@router.get("/p/{pid}/dashboard")
def dashboard_page(request: Request, m: MemberDep, coder: str | None = None) -> Response:
    context = viewmodels.dashboard_context(get_web(request), m, coder or None)
    return render(request, "dashboard.html", m=m, **context)


@router.get("/p/{pid}/figures/{name}.svg")
def figure_image(name: str, request: Request, m: MemberDep, coder: str | None = None) -> Response:
    """A dashboard figure as an SVG image (loaded by ``<img>``, so it cannot run script)."""
    svg = viewmodels.figure_svg(get_web(request), m, coder or None, name)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})


@router.get("/p/{pid}/drill")
def drill_page(
    request: Request,
    m: MemberDep,
    coder: str | None = None,
    f: Annotated[list[str] | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    web = get_web(request)
    f = f or []
    chosen, items = viewmodels.drill_items(web, m, coder or None, f)
    page = items[offset : offset + PAGE_SIZE]
    rows, _ = web.incidents(m, ids=page, limit=PAGE_SIZE)
    return render(
        request,
        "incidents.html",
        m=m,
        rows=rows,
        total=len(items),
        offset=offset,
        q="",
        page_size=PAGE_SIZE,
        title="Incidents behind the count",
        filters=f,
        coder=chosen,
        **_page_urls(request, offset, len(items)),
    )


# -- loss spirals, timelines and reliability ------------------------------------------------------
@router.get("/p/{pid}/spirals")
def spirals_page(request: Request, m: MemberDep, coder: str | None = None, by: str | None = None) -> Response:
    context = viewmodels.spirals_context(get_web(request), m, coder or None, by or None)
    return render(request, "spirals.html", m=m, unit=sequences.unit_name(context["key"] or ""), **context)


@router.get("/p/{pid}/spirals/drill")
def spirals_drill_page(
    request: Request,
    m: MemberDep,
    coder: str | None = None,
    by: str | None = None,
    g: Annotated[list[str] | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The groups behind a spiral count, a page of groups at a time, each with its incidents in order."""
    g = g or []
    found = viewmodels.spiral_groups(get_web(request), m, coder or None, by or None, g)
    groups, key = found["groups"], found["key"]
    page = groups.iloc[offset : offset + GROUP_PAGE_SIZE]
    views = sequences.group_views(found["data"], found["codebook"], key, page) if key else []
    return render(
        request,
        "spiral_groups.html",
        m=m,
        coder=found["coder"],
        key=key,
        unit=sequences.unit_name(key or ""),
        filters=[sequences.describe(found["codebook"], f) for f in g],
        total=len(groups),
        incidents=sum(int(n) for n in groups["n_incidents"]) if len(groups) else 0,
        groups=views,
        offset=offset,
        page_size=GROUP_PAGE_SIZE,
        **_page_urls(request, offset, len(groups), GROUP_PAGE_SIZE),
    )


@router.get("/p/{pid}/timeline")
def timeline_page(
    request: Request, m: MemberDep, coder: str | None = None, by: str | None = None, group: str | None = None
) -> Response:
    context = viewmodels.timeline_context(get_web(request), m, coder or None, by or None, group or None)
    return render(request, "timeline.html", m=m, unit=sequences.unit_name(context["key"] or ""), **context)


@router.get("/p/{pid}/timeline.svg")
def timeline_image(
    request: Request, m: MemberDep, group: str, coder: str | None = None, by: str | None = None
) -> Response:
    """The encounter figure as an SVG image (loaded by ``<img>``, so no markup is inlined in the page)."""
    svg = viewmodels.timeline_svg(get_web(request), m, coder or None, by or None, group)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})


@router.get("/p/{pid}/reliability")
def reliability_page(request: Request, m: MemberDep, coders: Annotated[list[str] | None, Query()] = None) -> Response:
    context = agreement.reliability_context(get_web(request), m, coders or [])
    return render(request, "reliability.html", m=m, labels=agreement.STATISTIC_LABELS, **context)


@router.get("/p/{pid}/reliability/disagreements")
def disagreements_page(
    request: Request,
    m: MemberDep,
    coders: Annotated[list[str] | None, Query()] = None,
    field: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    context = agreement.disagreement_context(get_web(request), m, coders or [], field or None)
    items = list(context["by_item"].items())
    return render(
        request,
        "disagreements.html",
        m=m,
        items=items[offset : offset + PAGE_SIZE],
        total=len(items),
        offset=offset,
        page_size=PAGE_SIZE,
        **context,
        **_page_urls(request, offset, len(items)),
    )
