"""The versioned JSON API (``/api/v1``), described at ``/openapi.json``.

One blueprint per area, registered here and nowhere else: its endpoints are
``api.<area>.<view>`` (``url_for("api.images.feed")``). Pages never import
this package; what they share with it lives beside it in ``gallery.web``.
"""

from __future__ import annotations

from quart import Blueprint

from gallery.web.api import account, discover, images, posts, ranking, reports, social

bp = Blueprint("api", __name__, url_prefix="/api/v1")
for area in (account, images, posts, social, discover, ranking, reports):
    bp.register_blueprint(area.bp)
