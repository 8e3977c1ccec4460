"""Template globals shared by every page."""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Quart

from gallery.web.current_user import session_user


def init_templating(app: Quart) -> None:
    @app.context_processor
    def site_globals() -> dict[str, object]:
        return {"viewer": session_user().user, "current_year": datetime.now(UTC).year}
