"""Template globals shared by every page."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape
from quart import Quart, url_for

from gallery.models.user import Permission
from gallery.services.permissions import LOCKED_MESSAGE, can
from gallery.services.tags import hashtag_spans
from gallery.web.current_user import session_user


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

    # Descriptions with their #hashtags as links to the tag pages (escaped first).
    app.add_template_filter(hashtag_links, "hashtag_links")


def hashtag_links(text: str | None) -> Markup:
    """``text`` escaped, each #hashtag in it a link to its tag page (``a.hashtag``).

    The tags are found by ``services.tags.hashtag_spans``, the rules that tagged
    the image; static/js/shared.js ``descriptionNodes`` does the same in browsers.
    The link shows the tag as written; it points at the folded name.
    """
    text = text or ""
    parts: list[Markup] = []
    shown = 0
    for span in hashtag_spans(text):
        parts.append(escape(text[shown : span.start]))
        href = url_for("discover.tag_page", name=span.name)
        parts.append(
            Markup('<a class="hashtag" href="{}">{}</a>').format(href, text[span.start : span.end])
        )
        shown = span.end
    parts.append(escape(text[shown:]))
    return Markup("").join(parts)
