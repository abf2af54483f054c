"""What every view must pass at both widths: screenshots saved for people to look at,
no sideways scrolling of the page on a phone, and axe-core's accessibility rules.

Screenshots go to ``artifacts/screenshots/`` (git-ignored; CI uploads the folder),
or to ``CONVEYOR_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tests.dashboard.pages import Page

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("CONVEYOR_SCREENSHOTS", REPO / "artifacts" / "screenshots"))
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# Impacts that fail a view; "minor" and "moderate" findings are printed, not fatal.
BLOCKING = {"serious", "critical"}


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core run inside the page. Evaluated over the DevTools protocol, so the
    page's CSP (which rightly forbids inline scripts) does not stop it, and the page
    never loads it itself."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = await page.evaluate(
        """async () => {
            const report = await window.axe.run(document, {
                runOnly: {
                    type: "tag",
                    values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
                },
            });
            return report.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return list(result)


async def horizontal_overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(
        await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


async def audit_view(page: Page, name: str) -> None:
    """Screenshot the view as it is at 1440x900 and 390x844, check that the phone
    layout needs no sideways scrolling, and run axe-core at both widths."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower())
    problems: list[str] = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        # A layout pass at the new width before measuring or drawing.
        await page.evaluate("new Promise((done) => requestAnimationFrame(() => done()))")
        await page.screenshot(path=str(SCREENSHOTS / f"{slug}-{label}.png"), full_page=True)
        overflow = await horizontal_overflow(page)
        if overflow > 0:
            problems.append(f"{label}: the page scrolls sideways by {overflow}px")
        for violation in await axe_violations(page):
            line = (
                f"{label}: axe {violation['impact']} {violation['id']}: "
                f"{violation['help']} {violation['nodes']}"
            )
            if violation["impact"] in BLOCKING:
                problems.append(line)
            else:
                print(line)
    await page.set_viewport_size(DESKTOP)
    assert not problems, f"{name}:\n" + "\n".join(problems)
