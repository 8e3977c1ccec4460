"""The uploads phase of `make bench` (issue 16): the feed while big posts are made.

A phone posting a carousel sends ten 12-megapixel photos; each is decoded,
colour-converted and encoded at seven sizes on the web process's two imaging
threads, a couple of seconds of CPU per photo. None of it may make the other
requests wait. So the feed routes are measured three times, on the same
two-worker Gallery: quiet, while ``BigPoster`` threads post ten-photo posts
through the composer's API (each photo sent on its own, three at a time, as
static/js/upload.js does, then ``POST /api/v1/posts``) without pause, and
quiet again. The photo is ``tests/data/formats/pug.heic``, a real 4032×3024
iPhone HEIC (tests/data/formats/README.md).
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PHOTO = Path(__file__).resolve().parents[1] / "tests" / "data" / "formats" / "pug.heic"
PHOTOS_PER_POST = 10
# The composer sends this many photos at once (upload.js leaves it to the browser,
# which opens six connections per host; three keeps a phone's uplink busy enough).
PARALLEL_PHOTOS = 3
# Posters at once: one person posting a carousel, and a second one doing the same.
POSTERS = 2
REQUEST_TIMEOUT_SECONDS = 300


class UploadsError(RuntimeError):
    """The uploads phase could not post what it must."""


@dataclass
class PostingLog:
    """What the posters did while the feed was measured."""

    posts: int = 0
    photos: int = 0
    post_seconds: list[float] = field(default_factory=list)
    photo_seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def median_post_seconds(self) -> float:
        return statistics.median(self.post_seconds) if self.post_seconds else float("nan")

    def median_photo_seconds(self) -> float:
        return statistics.median(self.photo_seconds) if self.photo_seconds else float("nan")


class BigPoster(threading.Thread):
    """Posts ten-photo posts as the bench user until ``stop`` is set."""

    def __init__(
        self, base_url: str, cookie: str, stop: threading.Event, log: PostingLog, number: int
    ) -> None:
        super().__init__(name=f"big-poster-{number}", daemon=True)
        cookies = dict(part.strip().split("=", 1) for part in cookie.split(";") if "=" in part)
        self.client = httpx.Client(
            base_url=base_url, cookies=cookies, timeout=REQUEST_TIMEOUT_SECONDS
        )
        me = self.client.get("/api/v1/me")
        if me.status_code != 200:
            raise UploadsError(f"GET /api/v1/me answered {me.status_code}")
        self.headers = {"X-CSRF-Token": me.json()["csrf_token"], "Origin": base_url}
        self.stop = stop
        self.log = log
        self.number = number
        self.photo = PHOTO.read_bytes()

    def send_photo(self, index: int) -> int:
        began = time.perf_counter()
        answer = self.client.post(
            "/api/v1/photos",
            files={"file": (f"IMG_{index:04d}.HEIC", self.photo, "image/heic")},
            headers=self.headers,
        )
        if answer.status_code != 201:
            raise UploadsError(f"POST /api/v1/photos answered {answer.status_code}: {answer.text}")
        with self.log.lock:
            self.log.photo_seconds.append(time.perf_counter() - began)
        return int(answer.json()["id"])

    def post_once(self, pool: ThreadPoolExecutor) -> None:
        began = time.perf_counter()
        ids = list(pool.map(self.send_photo, range(PHOTOS_PER_POST)))
        answer = self.client.post(
            "/api/v1/posts",
            json={
                "photos": [{"id": photo_id} for photo_id in ids],
                "description": f"Ten from the phone, poster {self.number}",
            },
            headers=self.headers,
        )
        if answer.status_code != 201:
            raise UploadsError(f"POST /api/v1/posts answered {answer.status_code}: {answer.text}")
        with self.log.lock:
            self.log.posts += 1
            self.log.photos += len(ids)
            self.log.post_seconds.append(time.perf_counter() - began)

    def run(self) -> None:
        with ThreadPoolExecutor(PARALLEL_PHOTOS) as pool:
            while not self.stop.is_set():
                try:
                    self.post_once(pool)
                except (UploadsError, httpx.HTTPError) as error:
                    with self.log.lock:
                        self.log.errors.append(str(error))
                    return
        self.client.close()


class Posting:
    """``POSTERS`` big posters running until ``finish()``: a context for the measurement."""

    def __init__(self, base_url: str, cookie: str) -> None:
        self.stop = threading.Event()
        self.log = PostingLog()
        self.posters = [
            BigPoster(base_url, cookie, self.stop, self.log, number) for number in range(POSTERS)
        ]

    def start(self) -> None:
        for poster in self.posters:
            poster.start()

    def finish(self) -> PostingLog:
        """Stop after the posts under way (their photos are all in flight already)."""
        self.stop.set()
        for poster in self.posters:
            poster.join(REQUEST_TIMEOUT_SECONDS)
        return self.log
