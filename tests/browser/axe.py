"""axe-core in the real browser: the findings a page must not have (serious or critical).

axe-core ships inside ``axe-playwright-python`` (its ``axe.min.js``); the script is evaluated through the
devtools protocol, because the pages' CSP (``script-src 'self'``) refuses an inline script tag.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from playwright.async_api import Page


@cache
def axe_source() -> str:
    return files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")


async def serious_axe_findings(page: Page) -> list[str]:
    """Every serious or critical axe violation on the page as it is now, with the elements it names."""
    await page.evaluate(axe_source())
    result = await page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
