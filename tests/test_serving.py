"""gallery.serving's restart policy and words, with the clock given.

The master itself is drilled in tests/faults/test_worker_crash.py (a worker
killed with SIGKILL under load, a crash loop, SIGHUP).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from wsproto.events import CloseConnection
from wsproto.frame_protocol import CloseReason

from gallery.serving import (
    GC_THRESHOLDS,
    RestartPolicy,
    decline_websocket_compression,
    describe_exit,
)


def test_a_few_deaths_at_once_are_replaced_at_once() -> None:
    policy = RestartPolicy(workers=2)
    policy.record_restart(0.0)
    policy.record_death(100.0)
    policy.record_death(100.1)
    assert policy.delay_before_restart(100.1) == 0.0


def test_a_crash_loop_backs_off_doubling_up_to_the_cap_and_recovers() -> None:
    policy = RestartPolicy(
        workers=2, window_seconds=10, first_delay_seconds=0.5, max_delay_seconds=4
    )
    now, delays = 0.0, []
    for _ in range(6):  # two workers start and die at once, round after round
        policy.record_restart(now)
        now += 0.2
        policy.record_death(now)
        policy.record_death(now)
        delay = policy.delay_before_restart(now)
        delays.append(delay)
        now += delay
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]
    # Even a wait longer than the window is not a quiet period: still backing off.
    policy.record_restart(now)
    policy.record_death(now + 0.2)
    assert policy.delay_before_restart(now + 0.2) == 4.0
    # Workers that lived a whole window end the back-off.
    policy.record_restart(now + 5)
    policy.record_death(now + 16)
    assert policy.delay_before_restart(now + 16) == 0.0


def test_exits_are_described_in_words() -> None:
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(1) == "exit status 1"
    assert describe_exit(0) == "exit status 0"


def test_websocket_handshakes_decline_permessage_deflate() -> None:
    """Hypercorn would agree to deflate whenever a browser offers it; the workers decline."""
    from hypercorn.protocol import ws_stream

    offered = [
        (b"host", b"gallery.example"),
        (b"connection", b"Upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
    ]
    original = ws_stream.PerMessageDeflate
    try:
        _, headers, _ = ws_stream.Handshake(offered, "1.1").accept(None, [])
        assert b"sec-websocket-extensions" in dict(headers), "Hypercorn no longer offers it?"

        decline_websocket_compression()
        status, headers, connection = ws_stream.Handshake(offered, "1.1").accept(None, [])
        assert status == 101
        assert b"sec-websocket-extensions" not in dict(headers)
        # A compressed frame (RSV1 set) from a client that ignored the answer is refused.
        mask, payload = b"\x01\x02\x03\x04", b"\xf2\x48\xcd\xc9\xc9\x07\x00"
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        connection.receive_data(bytes([0xC1, 0x80 | len(payload)]) + mask + masked)
        (event,) = list(connection.events())
        assert isinstance(event, CloseConnection) and event.code == CloseReason.PROTOCOL_ERROR
    finally:
        ws_stream.PerMessageDeflate = original  # type: ignore[misc]


def test_a_worker_importing_the_app_declines_deflate_and_tunes_the_collector(
    tmp_path: Path,
) -> None:
    """What Hypercorn's workers import, ``gallery.asgi``, sets both up (in a fresh process)."""
    probe = (
        "import gc, gallery.asgi\n"
        "from hypercorn.protocol import ws_stream\n"
        "print(*gc.get_threshold(), ws_stream.PerMessageDeflate.__name__)\n"
    )
    printed = run_in_a_fresh_worker(probe, tmp_path)
    assert printed.split()[-4:] == [*map(str, GC_THRESHOLDS), "_DeclinedDeflate"]


def test_a_worker_loads_py_webauthn_only_for_a_passkey_ceremony(tmp_path: Path) -> None:
    """py_webauthn and pyOpenSSL cost every process ~13 MiB; only a ceremony needs them."""
    probe = (
        "import asyncio, sys, gallery.asgi\n"
        "from gallery.services.passkeys import RelyingParty, authentication_ceremony\n"
        "print(*(name in sys.modules for name in ('webauthn', 'OpenSSL')))\n"
        "asyncio.run(authentication_ceremony(RelyingParty('localhost', 'http://localhost')))\n"
        "print(*(name in sys.modules for name in ('webauthn', 'OpenSSL')))\n"
    )
    printed = run_in_a_fresh_worker(probe, tmp_path)
    assert printed.split()[-4:] == ["False", "False", "True", "True"]


def run_in_a_fresh_worker(probe: str, instance_dir: Path) -> str:
    """What ``probe`` prints in a new interpreter, with no GALLERY_* setting but the folder."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GALLERY_")} | {
        "GALLERY_INSTANCE_DIR": str(instance_dir)
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
