"""Live updates over WebSocket against real multi-worker servers (MariaDB pass only)."""
