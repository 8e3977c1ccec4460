"""Gallery: an asynchronous image-sharing site."""

from __future__ import annotations

import logging
import warnings

from quart import Quart
from quart_auth import QuartAuth
from quart_schema import Info, QuartSchema

from gallery.infra.runtime import Runtime
from gallery.jobs import BACKGROUND_JOBS
from gallery.services.images import stop_imaging_pool
from gallery.settings import Settings
from gallery.web.fast_path import install_fast_path
from gallery.web.overload import install_overload_guard
from gallery.web.resources import install_resources
from gallery.web.sessions import RedisSessionInterface, SessionUser

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Quart:
    """Build the application: settings, infrastructure, blueprints, error handlers."""
    settings = settings or Settings()
    app = Quart(__name__)
    configure(app, settings)
    register_infrastructure(app, settings)
    register_extensions(app, settings)
    register_blueprints(app, settings)
    install_fast_path(app, cookie_secure=bool(settings.cookie_secure))
    install_overload_guard(app, settings)
    return app


def configure_logging() -> None:
    """Make Gallery's own INFO lines (started workers, mail in the embedded default) visible.

    Hypercorn configures only its own loggers; when nothing else configured
    logging, Gallery's would be dropped below WARNING.
    """
    logger = logging.getLogger("gallery")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def configure(app: Quart, settings: Settings) -> None:
    configure_logging()
    app.secret_key = settings.resolve_secret_key()
    app.config.update(
        TESTING=settings.env == "testing",
        PROPAGATE_EXCEPTIONS=False,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_NAME="gallery_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    if settings.is_production and not settings.cookie_secure:
        message = (
            "GALLERY_COOKIE_SECURE is false in production: session cookies will travel over "
            "plain HTTP and can be stolen. Serve the site over HTTPS and set it to true."
        )
        log.warning("!" * 20 + " " + message)
        warnings.warn(message, stacklevel=2)
    if not settings.cookie_secure:
        # quart-auth warns on every sign-in over plain HTTP; that is the set-up we chose.
        warnings.filterwarnings("ignore", "Secure cookies will be ignored on insecure requests")


def register_infrastructure(app: Quart, settings: Settings) -> None:
    runtime = Runtime.from_settings(settings, BACKGROUND_JOBS)
    resources = install_resources(app, runtime)
    app.session_interface = RedisSessionInterface(  # type: ignore[assignment]
        lambda: resources.redis,
        ttl_seconds=settings.remember_ttl_seconds,
        anonymous_ttl_seconds=settings.anonymous_session_seconds,
    )

    @app.before_serving
    async def start_runtime() -> None:
        await runtime.start(run_worker=settings.run_worker)

    @app.after_serving
    async def stop_runtime() -> None:
        await runtime.stop()
        await stop_imaging_pool()


def register_extensions(app: Quart, settings: Settings) -> None:
    from gallery.web.json_encoding import use_orjson
    from gallery.web.json_routes import JsonRoutesOpenAPIProvider

    auth = QuartAuth(
        app,
        cookie_name="gallery_auth",
        cookie_secure=bool(settings.cookie_secure),
        cookie_samesite="Lax",
        cookie_http_only=True,
        duration=settings.remember_ttl_seconds,
        user_class=SessionUser,
    )
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info=Info(title="Gallery API", version="1"),
        openapi_provider_class=JsonRoutesOpenAPIProvider,
    )
    use_orjson(app)
    # quart-auth offers templates ``current_user`` through a plain ``def`` context
    # processor, which Quart runs in a thread for every page; ours use ``viewer``.
    app.template_context_processors[None].remove(auth._template_context)


def register_blueprints(app: Quart, settings: Settings) -> None:
    from gallery.web import (
        admin,
        api,
        auth,
        compat,
        discover,
        images,
        live,
        main,
        posts,
        reports,
        social,
        users,
    )
    from gallery.web import (
        settings as settings_pages,
    )
    from gallery.web.body_limits import install_body_limits
    from gallery.web.current_user import load_signed_in_user
    from gallery.web.errors import register_error_handlers
    from gallery.web.routing import init_routing
    from gallery.web.security import init_security
    from gallery.web.sessions import refuse_without_session_store
    from gallery.web.templating import init_templating

    init_routing(app)
    # Before-request hooks run in this order. With the session unreadable
    # (Redis down), nothing may act on the request before it is refused, not
    # even the sign-in lookup. The body limit depends on who is signed in, and
    # must bind the CSRF check, the first to read the body.
    # install_body_limits also makes the app's request class (web/requests.py).
    app.before_request(refuse_without_session_store)
    app.before_request(load_signed_in_user)
    install_body_limits(app)
    init_security(app)
    init_templating(app)
    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(images.bp)
    app.register_blueprint(posts.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(compat.bp)
    app.register_blueprint(social.bp)
    app.register_blueprint(discover.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(settings_pages.bp)
    live.init_live(app, settings)
    register_error_handlers(app)
    drop_flask_context_processors(app)


def drop_flask_context_processors(app: Quart) -> None:
    """Each blueprint brings Flask's own (plain ``def``) default context processor, which
    Quart would run in a thread for every page the blueprint renders. It adds ``g``,
    ``request`` and ``session`` from Flask's context, where nothing lives under Quart;
    Quart's async one (registered for the app) adds them already."""
    from flask.templating import _default_template_ctx_processor as flask_default

    for name, processors in app.template_context_processors.items():
        if name is not None:
            processors[:] = [p for p in processors if p is not flask_default]
