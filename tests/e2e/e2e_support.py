"""Constants of the browser tests (imported by name: conftest modules are not importable by name)."""
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
NURSE_PASSWORD = "nurse password 1"
# The stethoscopes of clinic_with_stethoscopes (conftest): one of the crackle model's adults' validation, one of none.
STETHOSCOPES = ("Littmann 3200", "示例听诊器 7")  # the second: "example stethoscope 7", a name in Chinese
AXE = Path(__file__).resolve().parents[2] / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"
PORTRAIT = {"width": 820, "height": 1180}
LANDSCAPE = {"width": 1180, "height": 820}
ORIENTATIONS = {"portrait": PORTRAIT, "landscape": LANDSCAPE}
MIN_TARGET_PX = 44

# Every visible control a finger taps, measured where the finger lands: a checkbox or radio by
# its label. No exemption for links in headings (issue 27: the visit header's patient link was
# 28 px tall): every link, button and control on the page, in ``main`` and the top bar.
TARGETS_JS = """(min) => {
  const out = [];
  const selector = 'a, button, input:not([type=hidden]), select, textarea, [role=button], audio, summary';
  for (const el of document.querySelectorAll(selector)) {
    if (el.closest('[hidden]')) continue;
    const target = (el.type === 'checkbox' || el.type === 'radio') ? (el.closest('label') || el) : el;
    const box = target.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const style = getComputedStyle(target);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    if (box.width < min - 0.5 || box.height < min - 0.5) {
      out.push(`${el.tagName.toLowerCase()}#${el.id || ''}.${(el.className && el.className.baseVal !== undefined ? el.className.baseVal : el.className) || ''} ${Math.round(box.width)}x${Math.round(box.height)} "${(el.textContent || el.value || '').trim().slice(0, 30)}"`);
    }
  }
  return out;
}"""

# The text a nurse sees or hears (screen reader): visible text nodes and accessible attributes,
# skipping the language switch (in the other language on purpose) and what the page marks
# translate="no" (identifiers of things: a board's serial id and port).
VISIBLE_TEXT_JS = """() => {
  const texts = [];
  const shown = (el) => el && !el.closest('[hidden], [lang]:not(html), [translate=no], script, style, svg desc') &&
                        getComputedStyle(el).display !== 'none';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.textContent.trim() && shown(node.parentElement)) texts.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[aria-label], [placeholder], [title], [alt]')) {
    if (!shown(el)) continue;
    for (const name of ['aria-label', 'placeholder', 'title', 'alt']) if (el.getAttribute(name)) texts.push(el.getAttribute(name));
  }
  texts.push(document.title);
  return texts;
}"""


def require_axe() -> None:
    """Fail the calling test module at import, with the command that installs it, when axe-core
    (which :func:`check_accessibility` runs in the page) is missing: a missing tool is not a pass."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm install --prefix .ci/node axe-core@4` (.ci/run does)",
                    pytrace=False)


def check_accessibility(page) -> list[str]:
    """axe-core's serious and critical violations on the page, as readable lines."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def small_targets(page) -> list[str]:
    return page.evaluate(TARGETS_JS, MIN_TARGET_PX)
