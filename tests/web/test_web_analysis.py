"""Loss spirals, encounter timelines and reliability pages: counts equal their drill-downs, roles, blind rounds.

One project per module (the bundled example, gold labels, plus every incident coded by the
bundled fast coder). The example's support threads are one incident each, so sequences are
customers; two customers have two incidents, which ``alice`` codes into a spiral and a recovery.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from webtools import KID, SPIRAL_CODES, SUPPORT, add_machine_codes, code, login

P = "/api/projects/1"


@pytest.fixture(scope="module")
def machine(project_store) -> str:
    return add_machine_codes(project_store)


@pytest.fixture(scope="module")
def alice_coded(app, machine) -> None:
    with TestClient(app, base_url="http://127.0.0.1") as client:
        login(client, "alice")
        code(client, SPIRAL_CODES)


def spiral_cells(summary: dict) -> list[dict]:
    """Every drillable count of the spirals page."""
    tables = summary["tables"]
    cells = [c["cell"] for c in tables["cards"]]
    for row in tables["by_reason"]:
        cells += [row["loss_groups"], row["spirals"], row["recovered"]]
    for row in tables["recovery_by_reason"] + tables["recovery_by_provider"]:
        cells += [row["groups"], row["recovered"]]
    cells += [p["cell"] for p in tables["escalation_paths"]] + [r["cell"] for r in tables["secondary_resources"]]
    return cells


def drill_groups(client, coder: str, filters: list[str]) -> dict:
    response = client.get(f"{P}/spirals/drill", params={"coder": coder, "g": filters})
    assert response.status_code == 200, response.text
    return response.json()


# -- loss spirals ---------------------------------------------------------------------------------
def test_spiral_counts_of_the_machine_coder_drill_down_to_their_groups(client_for, machine) -> None:
    vera = client_for("vera")
    summary = vera.get(f"{P}/spirals", params={"coder": machine}).json()
    assert summary["key"] == "customer_id"  # the example's threads have one incident each
    cards = {c["kind"]: c["cell"]["count"] for c in summary["tables"]["cards"]}
    assert cards["all"] == 2 and cards["loss"] == 2
    tables = summary["tables"]
    for cell in [c["cell"] for c in tables["cards"]] + [tables["recovery_by_provider"][0]["groups"]]:
        found = drill_groups(vera, machine, cell["filters"])
        assert len(found["groups"]) == cell["count"], cell
        assert len(found["incidents"]) >= 2 * cell["count"]
    page = vera.get("/p/1/spirals", params={"coder": machine})
    assert page.status_code == 200 and "Loss spirals and recovery" in page.text and 'id="spiral-cards"' in page.text


def test_a_spiral_and_a_recovery_show_in_every_table(client_for, alice_coded) -> None:
    vera = client_for("vera")
    tables = vera.get(f"{P}/spirals", params={"coder": "alice"}).json()["tables"]
    cards = {c["kind"]: c["cell"]["count"] for c in tables["cards"]}
    assert cards == {"all": 2, "loss": 2, "spiral": 1, "escalating": 1, "recovered": 1}
    assert [p["labels"] for p in tables["escalation_paths"]] == [["Direct complaint", "Public complaint"]]
    assert [r["code"] for r in tables["secondary_resources"]] == ["effort"]
    r1 = next(r for r in tables["by_reason"] if r["code"] == "R1")
    assert (r1["loss_groups"]["count"], r1["spirals"]["count"], r1["recovered"]["count"]) == (1, 1, 0)
    for cell in spiral_cells({"tables": tables}):
        assert len(drill_groups(vera, "alice", cell["filters"])["groups"]) == cell["count"], cell
    spiral = drill_groups(vera, "alice", ["is=spiral"])
    assert spiral["groups"] == ["kidchorusteach"] and spiral["incidents"] == list(KID)
    page = vera.get("/p/1/spirals/drill", params={"coder": "alice", "g": ["is=loss"]})
    assert page.status_code == 200 and page.text.count('class="card group"') == 2
    assert "primary loss" in page.text and "spiral step" in page.text and "recovery" in page.text
    assert vera.get(f"{P}/spirals/drill", params={"coder": "alice", "g": ["nonsense=1"]}).status_code == 400


# -- encounter timelines --------------------------------------------------------------------------
def test_timeline_lists_groups_and_shows_one_in_time_order(client_for, alice_coded) -> None:
    vera = client_for("vera")
    found = vera.get(f"{P}/timeline", params={"coder": "alice", "group": "kidchorusteach"}).json()
    assert {g["value"] for g in found["groups"]} == {"kidchorusteach", "115911"}
    assert [s["item_id"] for s in found["steps"]] == list(KID)
    assert [c["code"] for c in found["steps"][1]["resources_lost"]] == ["time", "effort"]
    for group in found["groups"]:
        drilled = vera.get(f"{P}/drill", params={"coder": "alice", "f": group["cell"]["filters"]}).json()
        assert len(drilled["incidents"]) == group["cell"]["count"] == 2
    page = vera.get("/p/1/timeline", params={"coder": "alice", "group": "kidchorusteach"})
    assert page.status_code == 200 and f"/p/1/i/{KID[1]}" in page.text and "/p/1/timeline.svg?" in page.text
    image = vera.get("/p/1/timeline.svg", params={"coder": "alice", "group": "kidchorusteach"})
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/svg+xml")
    assert vera.get("/p/1/timeline", params={"coder": "alice", "group": "nobody"}).status_code == 404


# -- reliability ----------------------------------------------------------------------------------
def test_reliability_defaults_to_the_pair_sharing_most_and_drills_to_disagreements(client_for, machine) -> None:
    vera = client_for("vera")
    report = vera.get(f"{P}/reliability").json()
    assert report["coders"] == sorted(["gold", machine]) and report["n"] == 260
    valence = report["fields"][0]
    assert valence["field"] == "valence" and valence["units"] == 260
    names = [s["name"] for s in valence["statistics"]]
    assert names[:4] == ["percent_agreement", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha"]
    assert all(s["low"] is not None and s["low"] <= s["value"] <= s["high"] for s in valence["statistics"])
    assert any(f["level"] == "aggregate" and f["field"] == "reasons" for f in report["fields"])
    for field in (
        f for f in report["fields"] if f["field"] in ("valence", "reasons") and f["disagreements"] is not None
    ):
        listed = vera.get(
            f"{P}/reliability/disagreements", params={"coders": report["coders"], "field": field["field"]}
        ).json()["incidents"]
        assert len(listed) == field["disagreements"], field["field"]
    page = vera.get("/p/1/reliability")
    assert page.status_code == 200 and "Krippendorff" in page.text and 'id="pairs"' in page.text
    # the bundled coder was trained on the gold incidents: the page says agreement there is fit, not accuracy
    assert 'id="training-warning"' in page.text and "260 of the 260 compared incidents" in page.text
    listing = vera.get("/p/1/reliability/disagreements", params={"coders": report["coders"], "field": "valence"})
    assert listing.status_code == 200 and f"{valence['disagreements']} incidents" in listing.text
    assert vera.get(f"{P}/reliability", params={"coders": ["gold"]}).status_code == 400
    assert vera.get(f"{P}/reliability", params={"coders": ["gold", "ghost"]}).status_code == 404


def test_non_members_see_none_of_the_new_pages(client_for) -> None:
    outsider = client_for("nina")
    for path in (f"{P}/spirals", f"{P}/spirals/drill", f"{P}/timeline", f"{P}/reliability"):
        assert outsider.get(path).status_code == 404, path
    for path in ("/p/1/spirals", "/p/1/timeline", "/p/1/reliability", "/p/1/reliability/disagreements"):
        assert outsider.get(path).status_code == 404, path


# -- blind rounds ---------------------------------------------------------------------------------
def test_blind_round_stays_blind_on_spirals_timelines_and_reliability(client_for, alice_coded) -> None:
    owner, alice, bob, vera = client_for("admin"), client_for("alice"), client_for("bob"), client_for("vera")
    opened = owner.post(f"{P}/rounds", json={"name": "blind-sequences", "coders": ["alice", "bob"], "incidents": KID})
    assert opened.status_code == 201, opened.text
    rid = opened.json()["id"]
    code(bob, {KID[0]: {"valence": ["co_destruction"], "resources_lost": ["money"]}})
    code(bob, {KID[1]: {"valence": ["co_destruction"], "resources_lost": ["money", "reputation"]}})
    code(bob, {SUPPORT[0]: {"valence": ["co_destruction"]}, SUPPORT[1]: {"valence": ["co_destruction"]}})

    for viewer in (alice, vera):  # a round coder and a viewer see none of bob's round codes
        spirals = viewer.get(f"{P}/spirals", params={"coder": "bob"}).json()
        assert {c["kind"]: c["cell"]["count"] for c in spirals["tables"]["cards"]}["all"] == 1
        assert drill_groups(viewer, "bob", ["is=all"])["groups"] == ["115911"]
        assert viewer.get(f"{P}/reliability", params={"coders": ["alice", "bob"]}).json()["n"] == 2  # threads only
    timeline = alice.get(f"{P}/timeline", params={"coder": "bob"}).json()
    assert [g["value"] for g in timeline["groups"]] == ["115911"]
    assert alice.get("/p/1/timeline", params={"coder": "bob", "group": "kidchorusteach"}).status_code == 404
    assert alice.get("/p/1/timeline.svg", params={"coder": "bob", "group": "kidchorusteach"}).status_code == 404
    listed = alice.get(f"{P}/reliability/disagreements", params={"coders": ["alice", "bob"]}).json()
    assert not {i["item_id"] for i in listed["incidents"]} & set(KID) and "reputation" not in str(listed)
    page = alice.get("/p/1/reliability/disagreements", params={"coders": ["alice", "bob"]})
    assert KID[0] not in page.text and "reputation" not in page.text

    # An owner who does not code in the round sees everything.
    assert drill_groups(owner, "bob", ["is=all"])["groups"] == ["kidchorusteach", "115911"]
    assert owner.get(f"{P}/reliability", params={"coders": ["alice", "bob"]}).json()["n"] == 4
    listed = owner.get(f"{P}/reliability/disagreements", params={"coders": ["alice", "bob"], "field": "resources_lost"})
    assert {i["item_id"] for i in listed.json()["incidents"]} >= set(KID)

    assert owner.post(f"{P}/rounds/{rid}/close").status_code == 200
    after = alice.get(f"{P}/reliability").json()  # default: the coders of the latest closed round
    assert after["coders"] == ["alice", "bob"] and "blind-sequences" in after["why"] and after["n"] == 4
    assert "reputation" in str(alice.get(f"{P}/reliability/disagreements", params={"coders": ["alice", "bob"]}).json())


def test_hidden_codings_are_404_and_visible_foreign_ones_403(client_for) -> None:
    owner, alice, bob, vera = client_for("admin"), client_for("alice"), client_for("bob"), client_for("vera")
    item = owner.get(f"{P}/incidents", params={"limit": 1, "offset": 200}).json()["incidents"][0]["external_id"]
    rid = owner.post(f"{P}/rounds", json={"name": "blind-404", "coders": ["alice", "bob"], "incidents": [item]}).json()
    hidden = bob.post(f"{P}/incidents/{item}/codings", json={"dimension": "phase", "code_id": "after"}).json()
    gold = vera.get(f"{P}/codings", params={"coder": "gold", "limit": 1}).json()[0]
    missing = 10**9
    for client in (alice, vera):
        for coding_id, version in ((hidden["id"], hidden["version"]), (missing, hidden["version"])):
            patch = client.patch(f"{P}/codings/{coding_id}", json={"version": version, "memo": "x", "set_memo": True})
            assert patch.status_code == 404, (coding_id, patch.text)
            assert client.delete(f"{P}/codings/{coding_id}").status_code == 404
            assert client.get(f"{P}/codings/{coding_id}").status_code == 404
        patch = client.patch(
            f"{P}/codings/{gold['id']}", json={"version": gold["version"], "memo": "x", "set_memo": True}
        )
        assert patch.status_code == 403
        assert client.delete(f"{P}/codings/{gold['id']}").status_code == 403
    assert owner.post(f"{P}/rounds/{rid['id']}/close").status_code == 200
    patch = alice.patch(
        f"{P}/codings/{hidden['id']}", json={"version": hidden["version"], "memo": "x", "set_memo": True}
    )
    assert patch.status_code == 403  # visible now, still not hers
