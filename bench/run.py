"""Benchmark: a real Hypercorn server on loopback, hit by concurrent httpx clients.

Usage: python bench/run.py [--requests N] [--concurrency C] [--workers W]

It starts Gallery on the embedded default in a temporary instance folder (or on
whatever GALLERY_DATABASE_URL / GALLERY_REDIS_URL say), registers and activates
a user, forges photos and comments (``gallery forge``), signs in, then
measures throughput and latency of a few hot paths and the server's memory.
Bounded in requests and time; talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (Hypercorn workers)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


async def measure(
    client: httpx.AsyncClient,
    name: str,
    path: str,
    requests: int,
    concurrency: int,
    headers: dict[str, str] | None = None,
) -> str:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)

    async def worker() -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    return (
        f"| {name} | `{path}` | {requests / elapsed:,.0f} | {p50:.1f} | {p95:.1f} | "
        f"{', '.join(f'{k}×{v}' for k, v in sorted(statuses.items()))} |"
    )


async def run(args: argparse.Namespace) -> None:
    instance = Path(tempfile.mkdtemp(prefix="galb-", dir="/tmp"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.setdefault("GALLERY_INSTANCE_DIR", str(instance))
    env.update(
        GALLERY_PUBLIC_URL=base, GALLERY_ENV="development", GALLERY_WORKER_POLL_SECONDS="0.2"
    )
    # The schema first (what `gallery serve` does on the embedded default),
    # then photos to browse: forged through the real upload pipeline.
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=REPO, env=env, check=True
    )
    gallery = Path(sys.executable).with_name("gallery")
    subprocess.run(
        [str(gallery), "forge", "--users", "8", "--images", str(args.images),
         "--comments", str(args.images * 2), "--likes", str(args.images * 5),
         "--follows", "20", "--seed", "1"],
        cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "gallery.asgi:app"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(200):
                try:
                    await client.get("/")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            token = CSRF.search((await client.get("/")).text).group(1)  # type: ignore[union-attr]
            await client.post("/register", data={
                "csrf_token": token, "username": "bench", "email": "bench@example.com",
                "password": "bench password", "password2": "bench password",
            })  # fmt: skip
            link = None
            for _ in range(100):
                mails = sorted((Path(env["GALLERY_INSTANCE_DIR"]) / "mail").glob("*.eml"))
                if mails:
                    link = re.search(re.escape(base) + r"(/activate/[\w-]+)", mails[-1].read_text())
                    break
                await asyncio.sleep(0.1)
            assert link, "no activation mail (is SMTP configured? the bench reads mail files)"
            await client.get(link.group(1))
            began = time.perf_counter()
            await client.post("/login", data={
                "csrf_token": token, "login": "bench", "password": "bench password",
            })  # fmt: skip
            sign_in_ms = (time.perf_counter() - began) * 1000
            rows = [
                await measure(
                    client, "home page (signed in)", "/", args.requests, args.concurrency
                ),
                await measure(
                    client, "JSON: who am I", "/api/v1/me", args.requests, args.concurrency
                ),
                await measure(
                    client, "JSON: my sessions", "/api/v1/sessions", args.requests, args.concurrency
                ),
            ]
            feed = await client.get("/api/v1/feed?limit=20")
            first_image = feed.json()["items"][0]["id"]
            # Follow the forged authors, so the following feed has something to show.
            csrf = {"X-CSRF-Token": (await client.get("/api/v1/me")).json()["csrf_token"]}
            for author in {item["author"]["username"] for item in feed.json()["items"]}:
                await client.put(f"/api/v1/users/{author}/follow", headers=csrf)
            unread = "/api/v1/notifications/unread-count"
            rows += [
                await measure(
                    client, "JSON following feed, 20 images", "/api/v1/feed/following?limit=20",
                    args.requests, args.concurrency,
                ),
                await measure(
                    client, "JSON hot feed, 20 images (signed in)", "/api/v1/feed/hot?limit=20",
                    args.requests, args.concurrency,
                ),
                await measure(
                    client, "unread-count poll, ETag matches → 304", unread,
                    args.requests, args.concurrency,
                    headers={"If-None-Match": (await client.get(unread)).headers["ETag"]},
                ),
            ]  # fmt: skip
            anonymous = httpx.AsyncClient(base_url=base, timeout=30)
            async with anonymous:
                rows += [
                    await measure(
                        client, "JSON feed, 20 images (signed in)", "/api/v1/feed?limit=20",
                        args.requests, args.concurrency,
                    ),
                    await measure(
                        anonymous, "JSON feed, 20 images (anonymous)", "/api/v1/feed?limit=20",
                        args.requests, args.concurrency,
                    ),
                    await measure(
                        anonymous, "JSON feed poll, ETag matches → 304", "/api/v1/feed?limit=20",
                        args.requests, args.concurrency,
                        headers={"If-None-Match": (await anonymous.get(
                            "/api/v1/feed?limit=20")).headers["ETag"]},
                    ),
                    await measure(
                        anonymous, "seed feed, 20 images", "/index/images/2/20/",
                        args.requests, args.concurrency,
                    ),
                    await measure(
                        anonymous, "image page", f"/images/{first_image}",
                        args.requests, args.concurrency,
                    ),
                ]  # fmt: skip
            memory = rss_mib(server.pid)
        print(f"Gallery benchmark: {args.requests} requests per row, "
              f"{args.concurrency} concurrent, "
              f"{args.workers} Hypercorn worker(s), {os.cpu_count()} cores")  # fmt: skip
        print()
        print("| what | path | requests/s | p50 ms | p95 ms | statuses |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print(row)
        print()
        print(f"sign-in (Argon2 verify, one request): {sign_in_ms:.0f} ms; "
              f"server memory after the run: {memory:.0f} MiB RSS")  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if "GALLERY_REDIS_URL" not in os.environ:
            from gallery.infra.redis import EmbeddedRedis

            await EmbeddedRedis(Path(env["GALLERY_INSTANCE_DIR"])).stop()
        shutil.rmtree(instance, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--images", type=int, default=100, help="photos to forge first")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
