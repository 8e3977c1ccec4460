"""The browser's hashtag rules (static/js/shared.js) against the server's (services/tags.py).

Descriptions the feeds load are linked by the script, those in the HTML by the
template filter: both must find the same tags in the same text.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from gallery.services.tags import hashtag_spans
from tests.services.test_tags import PARSER_CASES

SHARED_JS = Path(__file__).resolve().parents[2] / "src" / "gallery" / "static" / "js" / "shared.js"

# The tag page's URL template, as the grids carry it (data-tag-url, rendered with url_for).
TAG_URL = "/tags/{name}"

COLLECT = """([texts, tagUrl]) => texts.map((text) => ({
  spans: window.Gallery.hashtagSpans(text).map((s) => [text.slice(s.start, s.end), s.name]),
  nodes: Array.from(window.Gallery.descriptionNodes(text, tagUrl).childNodes).map((n) =>
    n.nodeType === Node.TEXT_NODE
      ? ["text", n.textContent]
      : [n.tagName.toLowerCase(), n.className, n.textContent, n.getAttribute("href")]),
}))"""


async def test_the_browser_finds_the_same_tags_as_the_server(browser: Browser) -> None:
    texts = [text for text, _ in PARSER_CASES] + [
        "Sun at #Brighton_Beach, #brighton_beach again",
        "astral 𝐀#no 𝐀 #𝐀bc #ok",
        "#İstanbul #ΣΊΣΥΦΟΣ",
        "<b>#bold</b> & #amp",
    ]
    page = await browser.new_page()
    await page.add_script_tag(content=SHARED_JS.read_text(encoding="utf-8"))
    results = await page.evaluate(COLLECT, [texts, TAG_URL])
    await page.close()
    for text, found in zip(texts, results, strict=True):
        server = [[text[s.start : s.end], s.name] for s in hashtag_spans(text)]
        assert found["spans"] == server, text
        # The nodes give back the whole text (as text, never markup), each tag
        # as an a.hashtag to its page.
        nodes = found["nodes"]
        assert "".join(n[1] if n[0] == "text" else n[2] for n in nodes) == text
        links = [n for n in nodes if n[0] == "a"]
        assert [(a[1], a[2]) for a in links] == [("hashtag", shown) for shown, _ in server]
        assert all(a[3].startswith("/tags/") for a in links)
