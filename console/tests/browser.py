"""What every browser test shares: Debian's Chromium driven by Playwright, a user who can log in through the
console's login form, logging in, screenshots, and the check that a page does not scroll sideways."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections

from conftest import ROOT
from tenancy.models import Membership
from tenancy.tests.factories import MembershipFactory, UserFactory

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-pass-123"
NO_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's Chromium is not installed at /usr/bin/chromium "
    "(CI installs it with .ci/install-browser; `apt-get install chromium` locally)",
)
# The widest element that sticks out of the viewport, for a failure message that says what to fix.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const page = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
  let worst = null;
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && (!worst || box.right > worst.right)) {
      let scroller = el.parentElement, inside = false;
      while (scroller) {
        const style = getComputedStyle(scroller);
        if (['auto', 'scroll', 'hidden'].includes(style.overflowX)) { inside = true; break; }
        scroller = scroller.parentElement;
      }
      if (!inside) worst = {tag: el.tagName, cls: el.className.baseVal ?? el.className, right: box.right};
    }
  }
  return {viewport: width, page, worst};
}"""


@contextmanager
def chromium(monkeypatch) -> Iterator:
    """A headless Chromium for the test; the test database connections opened meanwhile are closed after it."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        # ORM calls made while Playwright's loop runs use a connection of their own (asgiref's context-local
        # connections); close it here, or the test database cannot be dropped at the end of the session.
        connections.close_all()
        browser.close()


def browser_user(tenant, username: str, role: str = Membership.Role.MEMBER, **fields):
    """A user of `tenant` with `role` who logs in with PASSWORD."""
    user = UserFactory(username=username, **fields)
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(user=user, tenant=tenant, role=role)
    return user


def log_in(page, base_url: str, user, *, next_path: str = "/") -> None:
    """Log `user` in through the console's login form (the page it is on, when that is the login page) and wait
    until the browser is at `next_path`."""
    if "/accounts/login/" not in page.url:
        page.goto(f"{base_url}/accounts/login/" + (f"?next={next_path}" if next_path != "/" else ""))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}{next_path}")


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def check_overflow(page, folder: Path, width: int, name: str, overflowing: list) -> None:
    """Screenshot the page (once the network is idle) and note it in `overflowing` when it scrolls sideways."""
    page.wait_for_load_state("networkidle")
    found = page.evaluate(OVERFLOW_JS)
    page.screenshot(path=str(folder / f"{width}-{name}.png"), full_page=True)
    if found["page"] > found["viewport"]:
        overflowing.append((width, name, found))


def pages_at_widths(
    monkeypatch, base_url: str, user, screenshots: str, *, next_path: str = "/", timeout_ms: int = 60_000
) -> Iterator:
    """At 390 px, then at 1440 px: a fresh page of a fresh Chromium context, logged in as `user` (at `next_path`), and
    `look(name)`, which screenshots it into test-artifacts/screenshots/<screenshots>/ and notes it when it scrolls
    sideways. Once both widths are done, fails with every page that scrolled sideways."""
    folder = SCREENSHOTS / screenshots
    folder.mkdir(parents=True, exist_ok=True)
    overflowing: list = []
    with chromium(monkeypatch) as browser:
        for width in (390, 1440):
            context = browser.new_context(viewport={"width": width, "height": 900})
            try:
                page = context.new_page()
                page.set_default_timeout(timeout_ms)
                log_in(page, base_url, user, next_path=next_path)
                yield width, page, functools.partial(check_overflow, page, folder, width, overflowing=overflowing)
            finally:
                context.close()
    assert not overflowing, overflowing


@pytest.fixture
def browser_page(monkeypatch):
    """A page 1366 px wide in a fresh Chromium."""
    with chromium(monkeypatch) as browser:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
