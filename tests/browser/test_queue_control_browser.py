"""The queue's buttons in a real browser, where a card's button reruns only its fragment (AppTest reruns
the whole page each time): the toast still comes, the edit dialog opens from a card, stays open over
the library's timer, says what is wrong next to the field, closes on a valid Save and stays closed
once dismissed; the "⋯" menu holds Move up/down and the page's Delete."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from mimio_core.domain import LOCAL_USER_ID, UserRequest
from mimio_core.store.base import NewVideo
from mimio_core.store.sqlite import SQLiteStore
from tests.browser.test_end_to_end import open_page
from tests.browser.test_engine_off_browser import EngineOff, engine_off_app  # noqa: F401 (a fixture)

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError:  # the `browser_service` fixture skips, or fails in CI, with the reason
    Locator = Page = expect = None  # type: ignore[assignment,misc]

pytestmark = pytest.mark.service

TICK = 3500  # ms: a little over one tick of My Videos' timer (3 s) while a video waits


@pytest.fixture
def store(engine_off_app: EngineOff) -> Iterator[SQLiteStore]:  # noqa: F811 (the fixture above)
    opened = SQLiteStore(engine_off_app.app.data_dir / "mimio.sqlite3")
    yield opened
    opened.close()


def waiting(store: SQLiteStore, *titles: str) -> list[str]:
    videos = [
        NewVideo(
            id=f"00000000-0000-4000-8000-{n:012d}",
            user_id=LOCAL_USER_ID,
            title=title,
            prompt=f"the prompt of {title}",
            model="sora-2",
            size="720x1280",
            seconds=4,
        )
        for n, title in enumerate(titles, start=1)
    ]
    return [video.id for video in store.insert_videos(videos)]


def toast(page: Page, text: str) -> Locator:
    return page.get_by_test_id("stToast").filter(has_text=text)


def test_card_buttons_edit_dialog_and_more_menu(
    engine_off_app: EngineOff,  # noqa: F811 (the fixture imported above)
    store: SQLiteStore,
    page: Page,
) -> None:
    fox, boat = waiting(store, "fox", "boat")
    url = engine_off_app.app.url
    open_page(page, f"{url}/my_videos", "My Videos")

    page.locator(f".st-key-pause-library-{fox} button").click()
    expect(toast(page, "Paused 'fox': it waits until you resume it.")).to_be_visible()
    expect(page.locator(f".st-key-resume-library-{boat}")).to_have_count(0)
    expect(page.locator(f".st-key-resume-library-{fox}")).to_be_visible()
    assert store.get_video(fox).is_paused

    page.locator(f".st-key-edit-waiting-library-{boat} button").click()
    dialog = page.get_by_role("dialog")
    prompt = dialog.locator(f".st-key-edit-{boat}-prompt textarea")
    expect(prompt).to_have_value("the prompt of boat")
    page.wait_for_timeout(TICK)  # the library's fragment reruns behind the dialog
    expect(prompt).to_be_visible()
    prompt.fill("   ")
    dialog.locator(f".st-key-edit-{boat}-save button").click()
    expect(dialog.get_by_text("Prompt is empty: describe the video you want.")).to_be_visible()
    prompt.fill("a paper boat on a river")
    dialog.locator(f".st-key-edit-{boat}-title input").click()  # commits the prompt
    dialog.locator(f".st-key-edit-{boat}-save button").click()
    expect(toast(page, "Saved 'boat': Sora 2 · Mimio video API, 720x1280, 4 s.")).to_be_visible()
    expect(dialog).to_have_count(0)
    assert store.get_video(boat).prompt == "a paper boat on a river"

    page.locator(f".st-key-edit-waiting-library-{boat} button").click()
    expect(prompt).to_have_value("a paper boat on a river")
    page.keyboard.press("Escape")  # dismissed: a later full run does not open it again
    expect(dialog).to_have_count(0)
    page.locator(f".st-key-next-library-{boat} button").click()
    expect(toast(page, "'boat' goes next in your queue.")).to_be_visible()
    expect(dialog).to_have_count(0)

    page.locator(f".st-key-more-library-{fox} button:visible").click()  # (a hidden copy measures it)
    menu = page.get_by_test_id("stPopoverBody")
    expect(menu.get_by_role("button")).to_have_text(
        [re.compile(name) for name in ("Move up", "Move down", "Reuse", "Delete")]
    )
    menu.get_by_role("button", name=re.compile("Move down")).click()
    expect(toast(page, "'fox' is last in your queue already.")).to_be_visible()
    expect(menu).to_be_visible()  # the menu stays open over the page's rerun: move again, or delete
    menu.get_by_role("button", name=re.compile("Delete")).click()
    menu.get_by_role("button", name=re.compile("Delete for good")).click()
    expect(page.locator(f".st-key-card-library-{fox}")).to_have_count(0)
    assert store.get_video(fox).requested is UserRequest.DELETE
