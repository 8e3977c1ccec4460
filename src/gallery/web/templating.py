"""Template globals shared by every page."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape
from quart import Quart

from gallery.web.current_user import session_user


def init_templating(app: Quart) -> None:
    @app.context_processor
    def site_globals() -> dict[str, object]:
        return {"viewer": session_user().user, "current_year": datetime.now(UTC).year}

    # Descriptions with their #hashtags as links to the tag pages (escaped first).
    app.add_template_filter(hashtag_links, "hashtag_links")


def hashtag_links(text: str | None) -> Markup:
    """Escape ``text``; the hashtag feature turns its #tags into links."""
    return escape(text or "")
