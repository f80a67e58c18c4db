"""The JSON API under ``/api/`` (described at ``/api/openapi.json``).

Authentication is the session cookie; every state-changing call also needs the session's
CSRF token in the ``X-CSRF-Token`` header (``GET /api/me`` returns it). Project routes
answer 404 to non-members, 403 when the member's role is too low, and 409 on an edit of a
coding that changed since it was read.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from covalue.errors import CovalueError
from covalue.framework.loader import load_codebook
from covalue.web import adjudication, agreement, security, sequences, viewmodels
from covalue.web.deps import AdminDep, MemberDep, SessionDep, get_web
from covalue.web.repository import Forbidden, WebError, WebStore

router = APIRouter(prefix="/api", tags=["api"])


# -- request bodies ---------------------------------------------------------------------------
class LoginBody(BaseModel):
    name: str
    password: str


class UserBody(BaseModel):
    name: str
    password: str = Field(min_length=security.MIN_PASSWORD_LENGTH)
    is_admin: bool = False


class ProjectBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    codebook: str = "vcd"


class MemberBody(BaseModel):
    user: str
    role: str


class CodingBody(BaseModel):
    dimension: str
    code_id: str
    start: int | None = None
    end: int | None = None
    memo: str | None = Field(default=None, max_length=10_000)
    from_suggestion: bool = Field(default=False, description="copy the suggestion's confidence and evidence")


class CodingPatch(BaseModel):
    version: str = Field(description="the version read with the coding; a stale one gives 409")
    code_id: str | None = None
    memo: str | None = Field(default=None, max_length=10_000)
    start: int | None = None
    end: int | None = None
    set_memo: bool = False
    set_span: bool = False


class RoundBody(BaseModel):
    name: str
    coders: list[str]
    incidents: list[str] = []
    sample: int = 0
    seed: int = 0
    blind: bool = True


class DecisionBody(BaseModel):
    item_id: str
    choices: dict[str, list[str]] = {}


def _web(request: Request) -> WebStore:
    return get_web(request)


def _incident_dict(row: Any) -> dict[str, Any]:
    return {
        "external_id": row.external_id,
        "text": row.text,
        "source": row.source,
        "relationship_type": row.relationship_type,
        "channel": row.channel,
        "occurred_at": row.occurred_at.isoformat() if row.occurred_at else None,
        "customer_id": row.customer_id,
        "thread_id": row.thread_id,
    }


# -- accounts ---------------------------------------------------------------------------------
@router.post("/login")
def login(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
    """Sign in; sets the session cookie and returns the CSRF token for later calls."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise WebError("send JSON", 415)  # a cross-site form cannot post JSON without a CORS preflight
    web = _web(request)
    user = web.authenticate(body.name, body.password)
    if user is None:
        raise WebError("wrong user name or password", 401)
    token, session = web.create_session(user)
    set_session_cookie(response, request, token)
    return {"user": user.name, "is_admin": user.is_admin, "csrf_token": session.csrf_token}


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        security.SESSION_COOKIE,
        token,
        max_age=int(security.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post("/logout")
def logout(request: Request, response: Response, session: SessionDep) -> dict[str, bool]:
    token = request.cookies.get(security.SESSION_COOKIE)
    if token:
        _web(request).delete_session(token)
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/me")
def me(request: Request, session: SessionDep) -> dict[str, Any]:
    projects = _web(request).projects_for(session.user)
    return {
        "user": session.user.name,
        "is_admin": session.user.is_admin,
        "csrf_token": session.csrf_token,
        "projects": [{"id": p.id, "name": p.name, "role": role} for p, role in projects],
    }


@router.get("/users")
def list_users(request: Request, session: SessionDep) -> list[dict[str, Any]]:
    """User names (members are picked from them); every signed-in user may list them."""
    return [{"name": u.name, "is_admin": u.is_admin} for u in _web(request).users()]


@router.post("/users", status_code=201)
def add_user(body: UserBody, request: Request, session: AdminDep) -> dict[str, Any]:
    user = _web(request).create_user(body.name, body.password, is_admin=body.is_admin)
    return {"name": user.name, "is_admin": user.is_admin}


# -- projects ---------------------------------------------------------------------------------
@router.get("/projects")
def list_projects(request: Request, session: SessionDep) -> list[dict[str, Any]]:
    return [
        {"id": p.id, "name": p.name, "description": p.description, "role": role}
        for p, role in _web(request).projects_for(session.user)
    ]


@router.post("/projects", status_code=201)
def add_project(body: ProjectBody, request: Request, session: AdminDep) -> dict[str, Any]:
    try:
        codebook = load_codebook(body.codebook)
    except CovalueError as exc:
        raise WebError(str(exc)) from None
    project = _web(request).create_project(session.user, body.name, body.description, codebook)
    return {"id": project.id, "name": project.name}


@router.get("/projects/{pid}")
def project(request: Request, m: MemberDep) -> dict[str, Any]:
    web = _web(request)
    _, codebook = web.codebook(m.project)
    return {
        "id": m.project.id,
        "name": m.project.name,
        "description": m.project.description,
        "role": m.role,
        "coder": m.coder_name,
        "codebook": codebook.key,
        "progress": web.progress(m),
    }


@router.get("/projects/{pid}/codebook")
def codebook_tree(request: Request, m: MemberDep) -> dict[str, Any]:
    _, codebook = _web(request).codebook(m.project)
    return viewmodels.codebook_tree(codebook)


@router.get("/projects/{pid}/members")
def list_members(request: Request, m: MemberDep) -> list[dict[str, Any]]:
    return _web(request).members(m.project)


@router.post("/projects/{pid}/members")
def put_member(body: MemberBody, request: Request, m: MemberDep) -> list[dict[str, Any]]:
    if not m.can("owner"):
        raise Forbidden("only a project owner can manage members")
    web = _web(request)
    web.set_member(m.project, body.user, body.role)
    return web.members(m.project)


@router.delete("/projects/{pid}/members/{user}")
def delete_member(user: str, request: Request, m: MemberDep) -> list[dict[str, Any]]:
    if not m.can("owner"):
        raise Forbidden("only a project owner can manage members")
    web = _web(request)
    web.remove_member(m.project, user)
    return web.members(m.project)


# -- incidents and codings --------------------------------------------------------------------
@router.get("/projects/{pid}/queue")
def queue(request: Request, m: MemberDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    web = _web(request)
    return {"progress": web.progress(m), "incidents": web.queue(m, limit)}


@router.get("/projects/{pid}/incidents")
def list_incidents(
    request: Request,
    m: MemberDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    q: str | None = None,
) -> dict[str, Any]:
    rows, total = _web(request).incidents(m, offset=offset, limit=limit, search=q)
    return {"total": total, "incidents": [_incident_dict(r) for r in rows]}


@router.get("/projects/{pid}/incidents/{external_id}")
def incident(external_id: str, request: Request, m: MemberDep) -> dict[str, Any]:
    web = _web(request)
    row = web.incident_row(m, external_id)
    return {"incident": _incident_dict(row), "codings": [c.to_dict() for c in web.codings_of(m, external_id)]}


@router.get("/projects/{pid}/incidents/{external_id}/codings")
def incident_codings(external_id: str, request: Request, m: MemberDep) -> list[dict[str, Any]]:
    web = _web(request)
    web.incident_row(m, external_id)
    return [c.to_dict() for c in web.codings_of(m, external_id)]


@router.get("/projects/{pid}/incidents/{external_id}/suggestions")
def suggestions(external_id: str, request: Request, m: MemberDep) -> list[dict[str, Any]]:
    return [s.to_dict() for s in request.app.state.suggester.for_incident(_web(request), m, external_id)]


@router.post("/projects/{pid}/incidents/{external_id}/codings", status_code=201)
def add_coding(external_id: str, body: CodingBody, request: Request, m: MemberDep) -> dict[str, Any]:
    web = _web(request)
    confidence, evidence = None, []
    if body.from_suggestion:
        found = [
            s
            for s in request.app.state.suggester.for_incident(web, m, external_id)
            if s.dimension == body.dimension and s.code_id == body.code_id
        ]
        if not found:
            raise WebError("no such suggestion for this incident")
        confidence, evidence = found[0].confidence, found[0].evidence
    coding = web.add_coding(
        m,
        external_id,
        body.dimension,
        body.code_id,
        start=body.start,
        end=body.end,
        memo=body.memo,
        confidence=confidence,
        evidence=evidence,
    )
    return coding.to_dict()


@router.get("/projects/{pid}/codings")
def list_codings(
    request: Request,
    m: MemberDep,
    coder: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    return [c.to_dict() for c in _web(request).codings(m, coder=coder, offset=offset, limit=limit)]


@router.get("/projects/{pid}/codings/{coding_id}")
def get_coding(coding_id: int, request: Request, m: MemberDep) -> dict[str, Any]:
    return _web(request).coding(m, coding_id).to_dict()


@router.patch("/projects/{pid}/codings/{coding_id}")
def patch_coding(coding_id: int, body: CodingPatch, request: Request, m: MemberDep) -> dict[str, Any]:
    coding = _web(request).update_coding(
        m,
        coding_id,
        body.version,
        code_id=body.code_id,
        memo=body.memo,
        start=body.start,
        end=body.end,
        set_memo=body.set_memo,
        set_span=body.set_span,
    )
    return coding.to_dict()


@router.delete("/projects/{pid}/codings/{coding_id}")
def remove_coding(coding_id: int, request: Request, m: MemberDep, version: str | None = None) -> dict[str, bool]:
    _web(request).delete_coding(m, coding_id, version)
    return {"ok": True}


@router.get("/projects/{pid}/coders")
def list_coders(request: Request, m: MemberDep) -> list[dict[str, Any]]:
    """Coders with codings the caller may see (blind rounds hide the others' work)."""
    return _web(request).visible_coders(m)


# -- rounds -----------------------------------------------------------------------------------
@router.get("/projects/{pid}/rounds")
def list_rounds(request: Request, m: MemberDep) -> list[dict[str, Any]]:
    return [r.to_dict() for r in _web(request).rounds(m)]


@router.post("/projects/{pid}/rounds", status_code=201)
def open_round(body: RoundBody, request: Request, m: MemberDep) -> dict[str, Any]:
    view = _web(request).create_round(
        m, body.name, body.coders, incident_ids=body.incidents, sample=body.sample, seed=body.seed, blind=body.blind
    )
    return view.to_dict()


@router.get("/projects/{pid}/rounds/{rid}")
def get_round(rid: int, request: Request, m: MemberDep) -> dict[str, Any]:
    web = _web(request)
    data = web.round(m, rid).to_dict()
    data["incidents_list"] = web.round_incidents(m, rid)
    if m.can("owner"):
        data["progress"] = web.round_progress(m, rid)
    return data


@router.post("/projects/{pid}/rounds/{rid}/close")
def close_round(rid: int, request: Request, m: MemberDep) -> dict[str, Any]:
    return _web(request).set_round_status(m, rid, "closed").to_dict()


@router.post("/projects/{pid}/rounds/{rid}/reopen")
def reopen_round(rid: int, request: Request, m: MemberDep) -> dict[str, Any]:
    return _web(request).set_round_status(m, rid, "open").to_dict()


@router.get("/projects/{pid}/rounds/{rid}/agreement")
def round_agreement(rid: int, request: Request, m: MemberDep) -> dict[str, Any]:
    found = adjudication.results(_web(request), m, rid)
    return {
        "n": found.n,
        "dropped": found.dropped,
        "fields": found.fields,
        "message": found.message,
        "disagreements": [{"item_id": d.item_id, "field": d.field, "values": d.values} for d in found.disagreements],
        "adjudicated": sorted(found.consensus),
    }


@router.post("/projects/{pid}/rounds/{rid}/decisions")
def decide(rid: int, body: DecisionBody, request: Request, m: MemberDep) -> dict[str, Any]:
    report = adjudication.adjudicate(_web(request), m, rid, body.item_id, body.choices)
    return {"coder": report.coder, "incidents": report.incidents, "codings": report.codings}


@router.post("/projects/{pid}/rounds/{rid}/accept-agreed")
def accept_agreed(rid: int, request: Request, m: MemberDep) -> dict[str, Any]:
    report = adjudication.accept_agreed(_web(request), m, rid)
    return {"incidents": report.incidents if report else 0, "codings": report.codings if report else 0}


# -- dashboards -------------------------------------------------------------------------------
@router.get("/projects/{pid}/dashboard")
def dashboard(request: Request, m: MemberDep, coder: str | None = None) -> dict[str, Any]:
    return viewmodels.dashboard_json(_web(request), m, coder)


@router.get("/projects/{pid}/drill")
def drill(
    request: Request, m: MemberDep, coder: str | None = None, f: Annotated[list[str] | None, Query()] = None
) -> dict[str, Any]:
    """The incidents behind a dashboard count: ``f`` repeats ``field=value`` filters."""
    f = f or []
    chosen, items = viewmodels.drill_items(_web(request), m, coder, f)
    return {"coder": chosen, "filters": f, "incidents": items}


# -- loss spirals, timelines and reliability ------------------------------------------------------
@router.get("/projects/{pid}/spirals")
def spirals_summary(request: Request, m: MemberDep, coder: str | None = None, by: str | None = None) -> dict[str, Any]:
    """Loss spirals and recovery of the coder's visible codes; counts carry group selections (``is=spiral``, …)."""
    return viewmodels.plain(viewmodels.spirals_context(_web(request), m, coder, by))


@router.get("/projects/{pid}/spirals/drill")
def spirals_drill(
    request: Request,
    m: MemberDep,
    coder: str | None = None,
    by: str | None = None,
    g: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """The groups behind a spiral count (``g`` repeats selections) and their incidents in sequence order."""
    g = g or []
    found = viewmodels.spiral_groups(_web(request), m, coder, by, g)
    groups, key = found["groups"], found["key"]
    return {
        "coder": found["coder"],
        "by": key,
        "filters": g,
        "groups": [str(v) for v in groups["group"]] if len(groups) else [],
        "incidents": sequences.drill_items(found["data"], key, groups) if key and len(groups) else [],
    }


@router.get("/projects/{pid}/timeline")
def timeline(
    request: Request, m: MemberDep, coder: str | None = None, by: str | None = None, group: str | None = None
) -> dict[str, Any]:
    """Threads or customers with most incidents and one group's incidents in time order."""
    return viewmodels.plain(viewmodels.timeline_context(_web(request), m, coder, by, group))


def _choice(context: dict[str, Any]) -> dict[str, Any]:
    choice = context["choice"]
    return {
        "coders": list(choice.coders) if choice else [],
        "why": choice.why if choice else None,
        "visible_coders": context["coders"],
        "pairs": [{"coders": list(p["coders"]), "shared": p["shared"]} for p in context["pairs"]],
    }


@router.get("/projects/{pid}/reliability")
def reliability(request: Request, m: MemberDep, coders: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """Agreement of chosen coders (default: the latest closed round's, else the pair sharing most incidents)."""
    context = agreement.reliability_context(_web(request), m, coders or [])
    return {
        **_choice(context),
        "n": context["n"],
        "dropped": context["dropped"],
        "bootstrap": context["bootstrap"],
        "message": context["message"],
        "fields": context["fields"],
    }


@router.get("/projects/{pid}/reliability/disagreements")
def reliability_disagreements(
    request: Request, m: MemberDep, coders: Annotated[list[str] | None, Query()] = None, field: str | None = None
) -> dict[str, Any]:
    """The incidents on which the compared coders differ (on ``field``, or on any dimension)."""
    context = agreement.disagreement_context(_web(request), m, coders or [], field)
    return {
        **_choice(context),
        "field": field,
        "incidents": [
            {"item_id": item, "fields": {d.field: d.values for d in found}}
            for item, found in context["by_item"].items()
        ],
    }
