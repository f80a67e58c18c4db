"""Browser tests: headless Chromium drives the real app (uvicorn on 127.0.0.1, a temp SQLite DB).

Covers sign-in, coding by keyboard and by mouse (span selection), suggestions, a blind round
with two coders, adjudication, dashboards with drill-down, and that an incident carrying
script renders as text. Screenshots go to the test's temp folder and to ``/tmp/web-shots``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from webtools import PASSWORD, SPIRAL_CODES, XSS_ID, add_machine_codes, build_project, code, live_server, login

from covalue.store import Store

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp/web-shots")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = build_project(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'covalue.db'}")
    yield store
    store.close()


@pytest.fixture(scope="module")
def server(store: Store) -> Iterator[str]:
    with live_server(store, suggestion_model="fast") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("shots")
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = False) -> Path:
        path = folder / f"{name}.png"
        if full_page:  # from the top, so the sticky header is not drawn mid-page
            page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=full_page)
        shutil.copy(path, SHOTS / path.name)
        return path

    take.folder = folder  # type: ignore[attr-defined]
    return take


def signed_in(browser, base: str, name: str):
    context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def codings_text(page) -> str:
    return page.inner_text("[data-testid=codings]")


def test_login_page_and_wrong_password(browser, server, shots) -> None:
    page = browser.new_page(base_url=server)
    page.goto("/p/1/queue")
    assert "/login" in page.url
    shots(page, "01-login")
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.inner_text(".error")
    page.close()


def test_keyboard_coding_and_suggestions(browser, server, shots) -> None:
    page = signed_in(browser, server, "alice")
    shots(page, "02-projects")
    page.goto("/p/1/queue")
    shots(page, "03-queue")
    page.click("#start")
    page.wait_for_selector("[data-testid=suggestions] li.suggestion")
    first_url = page.url
    page.keyboard.press("1")  # valence (focused first): code 1 = co_destruction
    page.wait_for_selector("[data-testid=codings] li.coding.mine:has-text('Value co-destruction')")
    page.keyboard.press("]")  # focus reasons (grouped: aggregate, then theme)
    page.keyboard.press("1")
    page.keyboard.press("2")  # R1 -> its second theme, R1.2
    page.wait_for_selector("#codebook li.code.applied button[data-code='R1.2']")
    pending = page.locator("[data-testid=suggestions] li.suggestion.current")
    suggested = pending.get_attribute("data-suggestion")
    page.wait_for_selector(".incident-text .evidence")  # the current suggestion's evidence is highlighted
    shots(page, "04-coding-keyboard")
    page.keyboard.press("a")  # accept the highlighted suggestion
    page.wait_for_selector(f"[data-testid=suggestions] li.suggestion.accepted[data-suggestion='{suggested}']")
    page.keyboard.press("x")  # reject the next one
    page.wait_for_selector("[data-testid=suggestions] li.suggestion.rejected")
    page.keyboard.press("?")
    assert page.is_visible("#help")
    shots(page, "05-help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")
    page.keyboard.press("m")
    page.keyboard.type("customer was charged twice")
    page.keyboard.press("Enter")
    page.wait_for_selector("#status.ok:has-text('Memo saved')")
    page.keyboard.press("j")
    page.wait_for_url(lambda url: url != first_url)
    page.keyboard.press("k")
    page.wait_for_url(first_url)
    page.wait_for_selector("[data-testid=codings] li.coding.mine")
    assert page.input_value("[data-testid=codings] li.mine input.memo") == "customer was charged twice"
    page.context.close()


def test_mouse_span_selection_codes_a_span(browser, server, shots) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = signed_in(browser, server, "bob")
    page.goto("/p/1/incidents?offset=10")
    page.click("table.incidents tbody tr:first-child a")
    page.wait_for_selector("[data-testid=suggestions] li:has-text('Loading')", state="detached")
    page.wait_for_load_state("networkidle")  # no re-render of the text may replace its nodes mid-drag
    # Where characters 4 and 24 of the text are on screen: drag the mouse between them.
    box = page.evaluate(
        """() => {
          const root = document.getElementById('text');
          const locate = (i) => {  // the text node and offset of character i (highlights split the text)
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            let seen = 0;
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
              if (i < seen + n.length) return [n, i - seen];
              seen += n.length;
            }
          };
          const at = (i) => { const [n, o] = locate(i); const r = document.createRange(); r.setStart(n, o);
                              r.setEnd(n, o + 1); const b = r.getBoundingClientRect();
                              return [b.left + 1, b.top + b.height / 2]; };
          return {start: at(8), end: at(23), text: root.textContent.slice(8, 24)};
        }"""
    )
    for attempt in range(3):  # a drag on a loaded machine can miss; a person would simply drag again
        page.mouse.move(*box["start"])
        page.mouse.down()
        page.mouse.move(*box["end"], steps=8)
        page.mouse.up()
        try:
            page.wait_for_selector(".codebook-head p:has-text('selected span')", timeout=5000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    page.click("#codebook section[data-dimension=valence] .dim-title")
    page.click("#codebook button[data-code=mixed]")
    page.wait_for_selector(".incident-text .mark.mine")
    marked = page.inner_text(".incident-text .mark.mine")
    assert marked.strip() and marked.strip() in box["text"]
    assert "whole incident" not in page.inner_text("[data-testid=codings] li.mine")
    shots(page, "06-coding-span-mouse")
    page.click("[data-testid=codings] li.mine button.remove")
    page.wait_for_selector(".incident-text .mark.mine", state="detached")
    page.context.close()


def test_script_in_an_incident_renders_as_text(browser, server, shots) -> None:
    page = signed_in(browser, server, "alice")
    page.goto(f"/p/1/i/{XSS_ID}")
    page.wait_for_selector("[data-testid=suggestions] li")
    assert "<script>alert(1)</script><img src=x onerror=alert(2)>" in page.inner_text("#text")
    assert page.locator("#text img").count() == 0 and page.locator("#text script").count() == 0
    page.wait_for_timeout(200)
    assert page.dialogs == []  # type: ignore[attr-defined]
    shots(page, "07-xss-as-text")
    page.context.close()


def test_blind_round_two_coders_then_adjudication(browser, server, shots) -> None:
    owner = signed_in(browser, server, "admin")
    owner.goto("/p/1/rounds")
    owner.fill("input[name=name]", "Pilot round")
    owner.check("input[name=coders][value=alice]")
    owner.check("input[name=coders][value=bob]")
    owner.fill("input[name=sample]", "2")
    shots(owner, "08-rounds-new")
    owner.click("#new-round button[type=submit]")
    owner.wait_for_selector("text=Round opened.")
    round_url = owner.url.split("?")[0]

    coders = {}
    for name, key in (("alice", "1"), ("bob", "2")):
        page = signed_in(browser, server, name)
        page.goto(round_url)
        page.click("text=Code this round")
        page.wait_for_selector("[data-testid=suggestions] li")
        page.keyboard.press(key)  # alice: co_destruction, bob: co_creation
        page.wait_for_selector("#codebook li.code.applied")
        coders[name] = page
    for name, page in coders.items():
        other = "bob" if name == "alice" else "alice"
        page.reload()
        page.wait_for_selector("[data-testid=codings] li.coding.mine")
        assert other not in codings_text(page)
        assert page.locator("[data-testid=codings] li.coding:not(.mine)").all_inner_texts() == [] or all(
            other not in t for t in page.locator("[data-testid=codings] li.coding").all_inner_texts()
        )
    shots(coders["alice"], "09-blind-alice")
    shots(coders["bob"], "10-blind-bob")
    coders["alice"].goto(round_url)
    assert "Agreement and disagreements are shown when the owner closes the round" in coders["alice"].content()

    owner.goto(round_url)
    shots(owner, "11-round-open-owner")
    owner.click("#close-round")  # confirm() is accepted by the dialog handler
    owner.wait_for_selector("#agreement")
    assert "krippendorff" in owner.inner_text("#agreement").lower()
    shots(owner, "12-round-agreement", full_page=True)
    form = owner.locator("form.decide").first
    form.locator("select[name='field:valence']").select_option("co_destruction")
    form.locator("button[type=submit]").click()
    owner.wait_for_selector("text=consensus code(s)")
    assert owner.locator(".badge-closed", has_text="adjudicated").count() >= 1
    shots(owner, "13-adjudicated", full_page=True)

    alice = coders["alice"]
    alice.goto(round_url)
    alice.click(".disagreement h3 a")
    alice.wait_for_selector("[data-testid=codings] li.coding")
    assert "bob" in codings_text(alice) and "consensus" in codings_text(alice)
    for page in (owner, *coders.values()):
        page.context.close()


def test_dashboards_and_drill_down(browser, server, shots) -> None:
    page = signed_in(browser, server, "vera")
    page.goto("/p/1/dashboard?coder=gold")
    assert page.is_visible("#gioia")
    shots(page, "14-dashboard", full_page=True)
    page.locator("#figures").scroll_into_view_if_needed()
    loaded = page.evaluate(
        """async () => {
          const images = Array.from(document.querySelectorAll('#figures img'));
          for (const img of images) { img.loading = 'eager'; await img.decode(); }
          return images.map(img => img.naturalWidth);
        }"""
    )
    assert len(loaded) == 5 and all(width > 100 for width in loaded)
    page.locator("#figures").screenshot(path=str(shots.folder / "16-figures.png"))
    shutil.copy(shots.folder / "16-figures.png", SHOTS / "16-figures.png")
    link = page.locator("#breakdown a.count").first
    expected = int(link.inner_text().replace(",", ""))
    link.click()
    page.wait_for_url("**/drill**")
    assert f"{expected:,} incidents" in page.inner_text(".pagehead")
    shots(page, "15-drill")
    page.context.close()


def images_loaded(page, selector: str) -> list[int]:
    """Natural widths of the images under ``selector`` once decoded (0: broken)."""
    return page.evaluate(
        """async (selector) => {
          const images = Array.from(document.querySelectorAll(selector + ' img'));
          for (const img of images) { img.loading = 'eager'; await img.decode(); }
          return images.map(img => img.naturalWidth);
        }""",
        selector,
    )


def test_spirals_timeline_and_reliability_pages(browser, server, store, shots) -> None:
    machine = add_machine_codes(store)  # a second coder of every incident, for reliability
    with httpx.Client(base_url=server) as api:
        login(api, "alice")
        code(api, SPIRAL_CODES)  # a spiral (customer kidchorusteach) and a recovery (customer 115911)
    page = signed_in(browser, server, "vera")
    page.goto("/p/1/dashboard?coder=alice")
    page.click("#nav-spirals")
    page.wait_for_selector("#spiral-cards")
    assert "coder=alice" in page.url
    cards = page.locator("#spiral-cards .stat")
    assert cards.count() == 5 and "loss spirals" in cards.nth(2).inner_text()
    shots(page, "17-spirals", full_page=True)

    cards.nth(2).locator("a.count").click()  # the spirals: the customers behind the count
    page.wait_for_url("**/spirals/drill**")
    assert "1 customer ·" in page.inner_text("#group-total")
    assert page.locator(".card.group").count() == 1 and "primary loss" in page.inner_text(".card.group").lower()
    shots(page, "18-spiral-groups", full_page=True)

    page.click(".card.group h2 a")  # the group on a timeline
    page.wait_for_selector("#timeline-steps")
    assert page.locator("#timeline-steps tbody tr").count() == 2
    assert all(width > 100 for width in images_loaded(page, "#timeline"))
    shots(page, "19-timeline", full_page=True)

    page.click("#nav-reliability")
    page.wait_for_selector("#pairs")
    page.click(f"#pairs a[href*='{machine}']")  # gold with the machine coder: 260 shared incidents
    page.wait_for_selector("#reliability-table")
    assert "260 incidents" in page.inner_text(".pagehead")
    shots(page, "20-reliability", full_page=True)

    link = page.locator("#reliability-table tr[data-field=valence] a.count")
    expected = int(link.inner_text())
    link.click()
    page.wait_for_url("**/reliability/disagreements**")
    assert f"{expected} incidents" in page.inner_text("#disagreement-total")
    assert page.locator("#disagreement-table tr[data-item]").count() == expected
    shots(page, "21-disagreements", full_page=True)
    page.context.close()
