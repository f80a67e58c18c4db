"""API tests: accounts and sessions, roles, CSRF, blind rounds, adjudication, XSS, dashboards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner
from webtools import PASSWORD, XSS_ID, XSS_TEXT

from covalue.cli.main import app as cli_app
from covalue.store.tables import utcnow
from covalue.web import security

P = "/api/projects/1"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


# -- accounts and sessions ------------------------------------------------------------------------
def test_login_sets_httponly_samesite_cookie_and_wrong_password_fails(client_for) -> None:
    client = client_for(None)
    assert client.post("/api/login", json={"name": "alice", "password": "wrong password"}).status_code == 401
    assert client.post("/api/login", json={"name": "ghost", "password": PASSWORD}).status_code == 401
    response = client.post("/api/login", json={"name": "alice", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/api/me").json()["user"] == "alice"


def test_login_requires_json_so_a_cross_site_form_cannot_sign_in(client_for) -> None:
    client = client_for(None)
    response = client.post("/api/login", data={"name": "alice", "password": PASSWORD})
    assert response.status_code in (415, 422)


def test_logout_revokes_the_session_server_side(client_for) -> None:
    client = client_for("alice")
    token = client.cookies.get(security.SESSION_COOKIE)
    assert client.post("/api/logout").status_code == 200
    replay = client_for(None)
    replay.cookies.set(security.SESSION_COOKIE, token)
    assert replay.get("/api/me").status_code == 401


def test_expired_session_is_rejected(client_for, app) -> None:
    client = client_for("bob")
    token = client.cookies.get(security.SESSION_COOKIE)
    app.state.web.expire_session(token, utcnow() - timedelta(seconds=1))
    assert client.get("/api/me").status_code == 401
    assert client.get("/p/1", follow_redirects=False).status_code == 303


def test_session_token_is_stored_hashed(client_for, app) -> None:
    from sqlalchemy import select

    from covalue.store.tables import SessionRow

    client = client_for("alice")
    token = client.cookies.get(security.SESSION_COOKIE)
    with app.state.web.reading() as session:
        stored = set(session.scalars(select(SessionRow.token_hash)).all())
    assert token not in stored and security.token_hash(token) in stored


def test_pages_redirect_anonymous_users_to_login(client_for) -> None:
    response = client_for(None).get("/p/1/queue", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_login_form_uses_a_double_submit_token(client_for) -> None:
    client = client_for(None)
    page = client.get("/login")
    token = client.cookies.get(security.LOGIN_CSRF_COOKIE)
    assert token and token in page.text
    bad = client.post(
        "/login", data={"name": "alice", "password": PASSWORD, "csrf_token": "forged"}, follow_redirects=False
    )
    assert "expired" in bad.headers["location"] and security.SESSION_COOKIE not in bad.cookies
    good = client.post(
        "/login",
        data={"name": "alice", "password": PASSWORD, "csrf_token": token, "next": "/p/1"},
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"] == "/p/1"
    evil = client.post(
        "/login",
        data={"name": "alice", "password": PASSWORD, "csrf_token": token, "next": "//evil.example"},
        follow_redirects=False,
    )
    assert evil.headers["location"] in ("/", "/login?next=%2F&error=Your+sign-in+form+expired%3B+try+again.")


# -- CSRF -----------------------------------------------------------------------------------------
def test_every_state_changing_route_rejects_a_missing_or_wrong_csrf_token(app, client_for) -> None:
    client = client_for("admin")
    checked = 0
    from covalue.web import api, pages

    for route in [*api.router.routes, *pages.router.routes]:
        methods = getattr(route, "methods", set()) & UNSAFE
        if not methods or route.path in ("/login", "/api/login"):
            continue
        path = route.path.replace("{pid}", "1").replace("{rid}", "1").replace("{coding_id}", "1")
        path = path.replace("{external_id:path}", XSS_ID).replace("{external_id}", XSS_ID).replace("{user}", "bob")
        for method in methods:
            for headers in ({"X-CSRF-Token": ""}, {"X-CSRF-Token": "wrong"}):
                response = client.request(method, path, headers=headers, json={})
                assert response.status_code == 403, (method, path, response.text)
            checked += 1
    assert checked >= 20


def test_form_post_without_csrf_field_is_rejected(client_for) -> None:
    client = client_for("admin")
    del client.headers["X-CSRF-Token"]
    response = client.post("/p/1/members", data={"user": "nina", "role": "coder"})
    assert response.status_code == 403
    members = client.get(f"{P}/members").json()
    assert "nina" not in {m["user"] for m in members}


# -- roles ----------------------------------------------------------------------------------------
def test_viewer_cannot_code(client_for) -> None:
    viewer = client_for("vera")
    response = viewer.post(f"{P}/incidents/{XSS_ID}/codings", json={"dimension": "valence", "code_id": "mixed"})
    assert response.status_code == 403
    assert viewer.get(f"{P}/incidents/{XSS_ID}").status_code == 200


def test_coder_cannot_open_rounds_or_manage_members(client_for) -> None:
    coder = client_for("alice")
    body = {"name": "sneaky", "coders": ["alice", "bob"], "sample": 3}
    assert coder.post(f"{P}/rounds", json=body).status_code == 403
    assert coder.post(f"{P}/members", json={"user": "nina", "role": "owner"}).status_code == 403
    assert coder.post("/api/users", json={"name": "mallory", "password": PASSWORD}).status_code == 403


def test_non_member_sees_nothing(client_for) -> None:
    outsider = client_for("nina")
    assert outsider.get("/api/projects").json() == []
    for path in (
        P,
        f"{P}/incidents",
        f"{P}/incidents/{XSS_ID}",
        f"{P}/codings",
        f"{P}/rounds",
        f"{P}/dashboard",
        f"{P}/queue",
        f"{P}/coders",
    ):
        assert outsider.get(path).status_code == 404, path
    for page in ("/p/1", "/p/1/queue", "/p/1/dashboard", f"/p/1/i/{XSS_ID}"):
        response = outsider.get(page)
        assert response.status_code == 404 and XSS_TEXT[:20] not in response.text


def test_coder_cannot_change_someone_elses_coding(client_for) -> None:
    alice, bob = client_for("alice"), client_for("bob")
    mine = alice.post(f"{P}/incidents/{XSS_ID}/codings", json={"dimension": "phase", "code_id": "during"}).json()
    patch = bob.patch(f"{P}/codings/{mine['id']}", json={"version": mine["version"], "memo": "x", "set_memo": True})
    assert patch.status_code == 403
    assert bob.delete(f"{P}/codings/{mine['id']}").status_code == 403


# -- editing ----------------------------------------------------------------------------------------
def test_add_edit_remove_with_versions(client_for) -> None:
    alice = client_for("alice")
    first = alice.post(f"{P}/incidents/{XSS_ID}/codings", json={"dimension": "initiator", "code_id": "provider"})
    assert first.status_code == 201
    # A single-valued dimension keeps one incident-level code: the second replaces the first.
    second = alice.post(f"{P}/incidents/{XSS_ID}/codings", json={"dimension": "initiator", "code_id": "customer"})
    mine = [
        c for c in alice.get(f"{P}/incidents/{XSS_ID}/codings").json() if c["mine"] and c["dimension"] == "initiator"
    ]
    assert [c["code_id"] for c in mine] == ["customer"]
    coding = second.json()
    span = alice.post(
        f"{P}/incidents/{XSS_ID}/codings",
        json={"dimension": "resources_lost", "code_id": "money", "start": 55, "end": 80},
    )
    assert span.status_code == 201 and span.json()["start"] == 55
    bad = alice.post(
        f"{P}/incidents/{XSS_ID}/codings",
        json={"dimension": "resources_lost", "code_id": "money", "start": 5, "end": 5000},
    )
    assert bad.status_code == 400
    assert (
        alice.post(f"{P}/incidents/{XSS_ID}/codings", json={"dimension": "reasons", "code_id": "R1"}).status_code == 400
    )
    edited = alice.patch(
        f"{P}/codings/{coding['id']}",
        json={"version": coding["version"], "memo": "customer asked first", "set_memo": True},
    )
    assert edited.status_code == 200 and edited.json()["memo"] == "customer asked first"
    stale = alice.patch(f"{P}/codings/{coding['id']}", json={"version": coding["version"], "code_id": "both"})
    assert stale.status_code == 409
    assert alice.delete(f"{P}/codings/{coding['id']}", params={"version": coding["version"]}).status_code == 409
    fresh = edited.json()["version"]
    assert alice.delete(f"{P}/codings/{coding['id']}", params={"version": fresh}).status_code == 200
    assert alice.get(f"{P}/codings/{coding['id']}").status_code == 404


# -- blind rounds -----------------------------------------------------------------------------------
def _everything_visible_to(client, items: list[str], bob_ids: list[int]) -> str:
    """Concatenated responses of every endpoint and page that can show codings."""
    parts = []
    for item in items:
        parts.append(client.get(f"{P}/incidents/{item}").text)
        parts.append(client.get(f"{P}/incidents/{item}/codings").text)
        parts.append(client.get(f"/p/1/i/{item}").text)
    parts.append(client.get(f"{P}/codings", params={"limit": 5000}).text)
    parts.append(client.get(f"{P}/codings", params={"coder": "bob"}).text)
    parts.append(client.get(f"{P}/coders").text)
    for coding_id in bob_ids:
        parts.append(str(client.get(f"{P}/codings/{coding_id}").status_code))
    parts.append(client.get(f"{P}/dashboard", params={"coder": "bob"}).text)
    parts.append(client.get(f"{P}/drill", params={"coder": "bob", "f": "valence=co_creation"}).text)
    parts.append(client.get("/p/1/dashboard", params={"coder": "bob"}).text)
    return "\n".join(parts)


def test_blind_round_hides_other_coders_until_closed_then_adjudication(client_for) -> None:
    owner, alice, bob, vera = client_for("admin"), client_for("alice"), client_for("bob"), client_for("vera")
    items = [
        i["external_id"] for i in owner.get(f"{P}/incidents", params={"limit": 3, "offset": 100}).json()["incidents"]
    ]
    opened = owner.post(f"{P}/rounds", json={"name": "blind-1", "coders": ["alice", "bob"], "incidents": items})
    assert opened.status_code == 201, opened.text
    rid = opened.json()["id"]
    assert alice.get(f"{P}/queue").json()["incidents"][0]["round_id"] == rid

    bob_ids = []
    for item in items:
        alice.post(f"{P}/incidents/{item}/codings", json={"dimension": "valence", "code_id": "co_destruction"})
        made = bob.post(
            f"{P}/incidents/{item}/codings",
            json={"dimension": "valence", "code_id": "co_creation", "memo": "BOBS-SECRET-MEMO"},
        )
        assert made.json()["round"] == "blind-1"
        bob_ids.append(made.json()["id"])
    seen_by_alice = _everything_visible_to(alice, items, bob_ids)
    assert "BOBS-SECRET-MEMO" not in seen_by_alice and '"coder":"bob"' not in seen_by_alice
    assert '"coder": "bob"' not in seen_by_alice and "co_creation" not in alice.get(f"{P}/incidents/{items[0]}").text
    seen_by_viewer = _everything_visible_to(vera, items, bob_ids)
    assert "BOBS-SECRET-MEMO" not in seen_by_viewer
    assert alice.get(f"{P}/rounds/{rid}/agreement").status_code == 409
    # An owner who does not code in the round may watch it.
    assert "BOBS-SECRET-MEMO" in owner.get(f"{P}/incidents/{items[0]}").text

    assert alice.post(f"{P}/rounds/{rid}/close").status_code == 403
    assert owner.post(f"{P}/rounds/{rid}/close").json()["status"] == "closed"
    assert "BOBS-SECRET-MEMO" in alice.get(f"{P}/incidents/{items[0]}").text
    agreement = alice.get(f"{P}/rounds/{rid}/agreement").json()
    assert agreement["n"] == 3
    valence = next(f for f in agreement["fields"] if f["field"] == "valence")
    assert valence["percent_agreement"] == 0.0
    assert {d["item_id"] for d in agreement["disagreements"] if d["field"] == "valence"} == set(items)

    assert alice.post(f"{P}/rounds/{rid}/decisions", json={"item_id": items[0]}).status_code == 403
    undecided = owner.post(f"{P}/rounds/{rid}/decisions", json={"item_id": items[0]})
    assert undecided.status_code == 400  # the disputed field needs a decision
    decided = owner.post(
        f"{P}/rounds/{rid}/decisions", json={"item_id": items[0], "choices": {"valence": ["co_destruction"]}}
    )
    assert decided.status_code == 200 and decided.json()["codings"] >= 1
    consensus = [c for c in owner.get(f"{P}/incidents/{items[0]}/codings").json() if c["coder"] == "consensus"]
    assert [(c["dimension"], c["code_id"]) for c in consensus] == [("valence", "co_destruction")]
    assert items[0] in owner.get(f"{P}/rounds/{rid}/agreement").json()["adjudicated"]
    page = owner.get(f"/p/1/rounds/{rid}")
    assert page.status_code == 200 and "Krippendorff" in page.text and "adjudicated" in page.text


# -- untrusted text -------------------------------------------------------------------------------
def test_incident_text_is_escaped_everywhere(client_for) -> None:
    client = client_for("alice")
    pages = [f"/p/1/i/{XSS_ID}", "/p/1/incidents?q=onerror", "/p/1/incidents?offset=500"]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200
        assert "<script>alert(1)" not in response.text and "<img src=x" not in response.text, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text or "\\u003cscript" in response.text, page
    headers = client.get(f"/p/1/i/{XSS_ID}").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert client.get(f"{P}/incidents/{XSS_ID}").json()["incident"]["text"] == XSS_TEXT


# -- dashboards -----------------------------------------------------------------------------------
def test_dashboard_counts_drill_down_to_the_same_incidents(client_for) -> None:
    client = client_for("vera")
    dashboard = client.get(f"{P}/dashboard", params={"coder": "gold"}).json()
    assert dashboard["coder"] == "gold" and dashboard["n"] == 260
    valence = next(d for d in dashboard["frequencies"] if d["id"] == "valence")
    for row in valence["rows"]:
        cell = row["cell"]
        drilled = client.get(f"{P}/drill", params={"coder": "gold", "f": cell["filters"]}).json()["incidents"]
        assert len(drilled) == cell["count"]
    reasons = next(g for g in dashboard["gioia"] if g["id"] == "reasons")
    r1 = reasons["aggregates"][0]
    drilled = client.get(f"{P}/drill", params={"coder": "gold", "f": r1["cell"]["filters"]}).json()["incidents"]
    assert len(drilled) == r1["cell"]["count"] >= max(t["cell"]["count"] for t in r1["themes"])
    cell = dashboard["breakdown"]["rows"][0]["cells"][0]
    both = client.get(f"{P}/drill", params={"coder": "gold", "f": cell["filters"]}).json()["incidents"]
    assert len(both) == cell["count"]
    for row in dashboard["table3"]["rows"][:1] + dashboard["table3"]["rows"][-1:]:
        for cell in [row["n"], row["phases"][1], row["types"][0]]:
            drilled = client.get(f"{P}/drill", params={"coder": "gold", "f": cell["filters"]}).json()["incidents"]
            assert len(drilled) == cell["count"], (row["code"], cell)
    figure = client.get("/p/1/figures/table3.svg", params={"coder": "gold"})
    assert figure.status_code == 200 and figure.headers["content-type"].startswith("image/svg+xml")
    assert client.get("/p/1/figures/nonsense.svg").status_code == 404
    page = client.get("/p/1/drill", params={"coder": "gold", "f": "valence=co_destruction"})
    assert page.status_code == 200 and "Incidents behind the count" in page.text
    assert client.get(f"{P}/drill", params={"f": "nonsense=1"}).status_code == 400


def test_openapi_describes_the_api(client_for) -> None:
    schema = client_for(None).get("/api/openapi.json").json()
    assert "/api/projects/{pid}/incidents/{external_id}/codings" in schema["paths"]
    assert not any(path.startswith("/p/") for path in schema["paths"])


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_user_add_creates_the_first_admin(tmp_path) -> None:
    db = str(tmp_path / "team.db")
    runner = CliRunner()
    result = runner.invoke(
        cli_app, ["user", "add", "root", "--admin", "--password-stdin", "--db", db], input="a long enough password\n"
    )
    assert result.exit_code == 0, result.output
    assert "admin" in result.output
    listed = runner.invoke(cli_app, ["user", "list", "--db", db])
    assert "root  (admin)" in listed.output
    short = runner.invoke(cli_app, ["user", "add", "shorty", "--password-stdin", "--db", db], input="short\n")
    assert short.exit_code == 1


@pytest.mark.parametrize("name", ["consensus", "bad name", ""])
def test_reserved_or_bad_user_names_are_refused(app, name) -> None:
    from covalue.web.repository import WebError

    with pytest.raises(WebError):
        app.state.web.create_user(name, PASSWORD)
