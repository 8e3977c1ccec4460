"""The ASGI application object that Hypercorn imports: ``gallery.asgi:app``."""

from hypercorn.middleware import ProxyFixMiddleware

from gallery import create_app
from gallery.serving import decline_websocket_compression, tune_garbage_collector
from gallery.settings import Settings

# What a worker process needs beyond the app (gallery/serving.py says why).
decline_websocket_compression()
tune_garbage_collector()

settings = Settings()
quart_app = create_app(settings)
# Behind nginx the client address and scheme come from X-Forwarded-* headers,
# trusted only for as many hops as are configured.
app = (
    ProxyFixMiddleware(quart_app, mode="legacy", trusted_hops=settings.proxy_hops)
    if settings.proxy_hops
    else quart_app
)
