"""Template globals shared by every page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from markupsafe import Markup, escape
from quart import Quart, url_for

from gallery.models.user import Permission, User
from gallery.services import avatars
from gallery.services.permissions import LOCKED_MESSAGE, can
from gallery.services.tags import hashtag_spans
from gallery.web.current_user import session_user
from gallery.web.resources import resources


def init_templating(app: Quart) -> None:
    @app.context_processor
    async def site_globals() -> dict[str, object]:
        return {"viewer": session_user().user, "current_year": datetime.now(UTC).year}

    # Templates show a control only to those who may use it (``can(viewer,
    # Permission.MODERATE)``); the view behind it checks again.
    app.jinja_env.globals.update(can=can, Permission=Permission)
    # The banner base.html shows a locked account on every page, in the words
    # its refusals use, so the two never disagree.
    app.jinja_env.globals["locked_message"] = LOCKED_MESSAGE
    # The viewer's own avatar in the navigation and on the account pages.
    app.jinja_env.globals["avatar_of"] = avatar_of

    # Descriptions with their #hashtags as links to the tag pages (escaped first).
    app.add_template_filter(hashtag_links, "hashtag_links")
    # Bios: the same, and their web addresses as links too (rel nofollow ugc).
    app.add_template_filter(bio_links, "bio_links")
    app.add_template_filter(website_label, "website_label")


# A web address in a bio: http(s) up to the next space; a closing bracket or
# punctuation at its end belongs to the sentence, not the address.
WEB_ADDRESS = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?)]}"
USER_LINK_REL = "nofollow ugc noopener"


def bio_links(text: str | None) -> Markup:
    """A bio escaped, with its web addresses and #hashtags as links.

    Addresses link with ``rel="nofollow ugc noopener"``: what a person writes
    about themselves earns no search ranking from the site's pages.
    """
    text = text or ""
    spans: list[tuple[int, int, Markup]] = []
    for match in WEB_ADDRESS.finditer(text):
        address = match.group().rstrip(TRAILING_PUNCTUATION)
        end = match.start() + len(address)
        spans.append(
            (
                match.start(),
                end,
                Markup('<a href="{}" rel="{}">{}</a>').format(address, USER_LINK_REL, address),
            )
        )
    for tag in _hashtags_as_links(text):
        if not any(start < tag[1] and tag[0] < end for start, end, _ in spans):
            spans.append(tag)
    return _with_links(text, sorted(spans, key=lambda span: span[0]))


def _hashtags_as_links(text: str) -> list[tuple[int, int, Markup]]:
    """Each #hashtag of ``text`` (where it is, and its link to its tag page)."""
    return [
        (
            span.start,
            span.end,
            Markup('<a class="hashtag" href="{}">{}</a>').format(
                url_for("discover.tag_page", name=span.name), text[span.start : span.end]
            ),
        )
        for span in hashtag_spans(text)
    ]


def _with_links(text: str, spans: list[tuple[int, int, Markup]]) -> Markup:
    parts: list[Markup] = []
    shown = 0
    for start, end, link in spans:
        parts.append(escape(text[shown:start]))
        parts.append(link)
        shown = end
    parts.append(escape(text[shown:]))
    return Markup("").join(parts)


def website_label(address: str | None) -> str:
    """A website as shown: without its scheme and a lone trailing slash."""
    label = (address or "").split("://", 1)[-1]
    return label[:-1] if label.endswith("/") and label.count("/") == 1 else label


def avatar_of(user: User, size: int = avatars.SMALL_SIZE) -> str:
    return avatars.avatar_url(user, resources().storage, size)


def hashtag_links(text: str | None) -> Markup:
    """``text`` escaped, each #hashtag in it a link to its tag page (``a.hashtag``).

    The tags are found by ``services.tags.hashtag_spans``, the rules that tagged
    the image; static/js/shared.js ``descriptionNodes`` does the same in browsers.
    The link shows the tag as written; it points at the folded name.
    """
    text = text or ""
    return _with_links(text, _hashtags_as_links(text))
