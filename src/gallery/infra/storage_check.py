"""``gallery storage check``: can this site store, read, serve and delete photos?

Each step says what it tried and, when it fails, exactly what is wrong, in the
order an operator would fix things (reach the store, then write, then serve).
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from gallery.infra.storage import (
    IMMUTABLE_CACHE_CONTROL,
    Storage,
    StoredFileMissing,
    content_type_of,
    new_stem,
)

FETCH_TIMEOUT_SECONDS = 15
# What the probe object holds: not an image, but nothing ever shows it.
PROBE_BYTES = b"gallery storage check: this object is removed again at once\n"


@dataclass(frozen=True)
class CheckStep:
    name: str
    ok: bool
    detail: str = ""


async def check_storage(storage: Storage) -> list[CheckStep]:
    """Store a probe file, read it back, fetch its URL as a browser would, delete it.

    Stops at the first failed step (the later ones could only fail too), but
    always tries to remove the probe.
    """
    from gallery.infra.s3_storage import S3Storage  # only an S3 store has a bucket to reach

    steps: list[CheckStep] = []
    if isinstance(storage, S3Storage):
        try:
            await storage.check_bucket()
        except OSError as error:
            return [CheckStep("reach the bucket", False, str(error))]
        steps.append(CheckStep("reach the bucket", True, str(storage.location)))
    key = f"{new_stem()}_check.jpg"
    try:
        try:
            await storage.put(key, PROBE_BYTES)
        except OSError as error:
            return [*steps, CheckStep("write a file", False, str(error))]
        steps.append(CheckStep("write a file", True, key))
        try:
            data = await storage.open(key)  # blocking-ok: a coroutine of the Storage interface
        except (OSError, StoredFileMissing) as error:
            return [*steps, CheckStep("read it back", False, f"{type(error).__name__}: {error}")]
        if data != PROBE_BYTES:
            return [*steps, CheckStep("read it back", False, "the bytes read differ")]
        steps.append(CheckStep("read it back", True))
        if isinstance(storage, S3Storage):
            headers = await storage.stored_headers(key)
            wanted = {
                "Content-Type": content_type_of(key),
                "Cache-Control": IMMUTABLE_CACHE_CONTROL,
            }
            wrong = {name: value for name, value in headers.items() if value != wanted[name]}
            if wrong:
                return [
                    *steps,
                    CheckStep("keep its headers", False, f"the store kept {wrong}, not {wanted}"),
                ]
            steps.append(CheckStep("keep its headers", True))
        steps.append(await _fetch_as_browser(storage.url(key)))
        if not steps[-1].ok:
            return steps
    finally:
        try:
            await storage.delete(key)
            removed = await storage.size(key) is None
            detail = "" if removed else "the file is still there after deleting it"
        except OSError as error:
            removed, detail = False, str(error)
        steps.append(CheckStep("delete it", removed, detail))
    return steps


async def _fetch_as_browser(url: str) -> CheckStep:
    name = "serve it to browsers"
    if url.startswith("/"):
        return CheckStep(name, True, f"the site serves it at {url}")
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as client,
            client.get(url, allow_redirects=False) as response,
        ):
            body = await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as error:
        return CheckStep(name, False, f"cannot fetch {url.split('?')[0]}: {error!r}")
    if status != 200 or body != PROBE_BYTES:
        hint = (
            " (the bucket or CDN is not public: unset GALLERY_MEDIA_URL to use presigned URLs)"
            if status == 403
            else ""
        )
        return CheckStep(name, False, f"GET {url.split('?')[0]} answered {status}{hint}")
    return CheckStep(name, True, url.split("?")[0])
