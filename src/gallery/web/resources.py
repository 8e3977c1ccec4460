"""What a request uses from the outside world, reached in one place.

A view names what it needs once (``use = resources()``) and then passes
``use.db``, ``use.redis``, ``use.storage`` or ``use.mailer`` to services. The
connections themselves belong to the app's ``Runtime``, started and stopped
with it; only the database session is the request's own: opened on first use
and closed at teardown, so a view that never touches the database never takes
a connection.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from quart import Quart, current_app, g
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import close_despite_cancellation
from gallery.infra.runtime import Runtime
from gallery.infra.sessions import SignInStore
from gallery.infra.storage import Storage
from gallery.services.mail import Mailer
from gallery.settings import Settings

# The runtime itself stays under "gallery" (tests and the fast path reach it there).
RUNTIME_EXTENSION = "gallery"
EXTENSION = "gallery.resources"


class RequestResources:
    """The runtime's connections, plus the current request's database session."""

    __slots__ = ("mailer", "runtime")

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.mailer = Mailer(runtime.settings)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def db(self) -> AsyncSession:
        """The database session of the current request (opened on first use)."""
        session: AsyncSession | None = g.get("_db_session")
        if session is None:
            session = self.runtime.db.sessionmaker()
            g._db_session = session
        return session

    @property
    def redis(self) -> aioredis.Redis:
        redis = self.runtime.redis
        assert redis is not None, "Redis is connected when the app starts serving"
        return redis

    @property
    def storage(self) -> Storage:
        return self.runtime.storage

    @property
    def export_storage(self) -> Storage:
        return self.runtime.export_storage

    @property
    def sign_ins(self) -> SignInStore:
        sign_ins = self.runtime.sign_ins
        assert sign_ins is not None, "the sign-in store exists once the app serves"
        return sign_ins


def install_resources(app: Quart, runtime: Runtime) -> RequestResources:
    """Make ``runtime`` what this app's requests use, and close their sessions at teardown."""
    resources = RequestResources(runtime)
    app.extensions[RUNTIME_EXTENSION] = runtime
    app.extensions[EXTENSION] = resources
    app.teardown_appcontext(close_request_db)
    return resources


def resources() -> RequestResources:
    """What the current app's requests use (inside a request or app context)."""
    return current_app.extensions[EXTENSION]


async def close_request_db(_exc: BaseException | None = None) -> None:
    """At teardown: give the request's connection back, also when the client has gone.

    Quart cancels the request's task when the client disconnects, and when that
    happens during this teardown the cancellation lands in the close (see
    ``close_despite_cancellation``).
    """
    session = g.pop("_db_session", None)
    if session is not None:
        await close_despite_cancellation(session)
