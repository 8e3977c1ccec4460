"""The ``gallery`` command: serve, worker, create-admin, set-role, forge, import."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import Database
from gallery.infra.runtime import Runtime
from gallery.jobs import BACKGROUND_JOBS
from gallery.settings import Settings

if TYPE_CHECKING:
    from gallery.infra.storage_check import CheckStep
    from gallery.infra.web_fetch import FetchPolicy as WebFetchPolicy
    from gallery.services.web_import import ImportReport as WebImportReport

log = logging.getLogger("gallery")

T = TypeVar("T")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
    )


def find_project_file(name: str) -> Path | None:
    """A file of the checkout (alembic.ini, hypercorn.toml): the working folder first."""
    for folder in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (folder / name).exists():
            return folder / name
    return None


def upgrade_schema(database_url: str) -> None:
    """Bring the database to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    ini = find_project_file("alembic.ini")
    if ini is None:
        raise click.ClickException("alembic.ini not found: run gallery from the repository root.")
    config = Config(str(ini))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


def upgrade_embedded_schema(settings: Settings) -> None:
    """Bring an embedded SQLite database to head; leave MariaDB alone.

    The embedded default has to work without a separate migration step, so
    every command that uses it migrates first; a MariaDB deployment is
    migrated by whoever runs it, on purpose, never behind their back.
    """
    if settings.is_sqlite:
        upgrade_schema(str(settings.database_url))


def settings_with_current_schema() -> Settings:
    """The configured settings, after ``upgrade_embedded_schema``: what database commands need."""
    settings = Settings()
    upgrade_embedded_schema(settings)
    return settings


@asynccontextmanager
async def started_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_settings(settings, BACKGROUND_JOBS)
    await runtime.start(run_worker=False)
    try:
        yield runtime
    finally:
        await runtime.stop()


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """Gallery, an image-sharing site."""
    setup_logging(verbose)


@main.command()
@click.option("--bind", "binds", multiple=True, help="Override hypercorn.toml's bind (repeatable).")
@click.option("--workers", type=int, default=None, help="Override hypercorn.toml's workers.")
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="Log every request to stdout (default: on, except with GALLERY_ENV=production).",
)
def serve(binds: tuple[str, ...], workers: int | None, access_log: bool | None) -> None:
    """Run the site under Hypercorn workers with hypercorn.toml, replacing any that die.

    The workers are supervised by ``gallery.serving`` (not Hypercorn's own
    master, which stops the site when one worker is killed). On the embedded
    default this first brings the schema to head and starts the embedded Redis
    server, which every worker then shares. SIGTERM or Ctrl-C drains in-flight
    requests; a second one ends the workers at once. Fine under systemd too.
    """
    from gallery import serving

    settings = Settings()
    settings.resolve_secret_key()  # refuse to start now rather than in every worker
    embedded = None
    upgrade_embedded_schema(settings)
    if settings.uses_embedded_redis:
        from gallery.infra.redis import EmbeddedRedis

        embedded = EmbeddedRedis(settings.instance_dir)
        asyncio.run(embedded.ensure_running())
    config = find_project_file("hypercorn.toml")
    # The same options as `python -m gallery.serving` (Hypercorn's names), so
    # both entry points load the configuration the same way.
    arguments: list[str] = []
    if config is not None:
        arguments += ["--config", str(config)]
    for bind in binds:
        arguments += ["--bind", bind]
    if workers is not None:
        arguments += ["--workers", str(workers)]
    # hypercorn.toml leaves the access log to nginx: a line per request written
    # by every worker costs throughput. On a developer's machine it helps.
    if access_log if access_log is not None else not settings.is_production:
        arguments += ["--access-logfile", "-"]
    arguments.append("gallery.asgi:app")
    click.echo(f"Serving Gallery on {', '.join(binds) or 'the address in hypercorn.toml'}")
    try:
        code = serving.serve(serving.config_from_command_line(arguments))
    finally:
        if embedded is not None:
            asyncio.run(embedded.stop())
    sys.exit(code)


@main.command()
def worker() -> None:
    """Run the background jobs (mail outbox, view counts) in this process until stopped."""
    settings = Settings()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with started_runtime(settings) as runtime:
            await runtime.run_background_jobs(stop)

    asyncio.run(run())


@main.command("create-admin")
@click.argument("username")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin(username: str, email: str, password_stdin: bool) -> None:
    """Create an active administrator account."""
    from gallery.services import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def create(session: AsyncSession) -> str:
        user = await accounts.create_admin(
            session, username=username, email=email, password=password
        )
        return user.username

    try:
        name = run_in_session(create)
    except accounts.AccountError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"Administrator {name} created.")


@main.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(["user", "moderator", "administrator", "admin"]))
@click.option("--reason", default="", help="Why; it goes into the moderation log.")
def set_role(username: str, role: str, reason: str) -> None:
    """Give USERNAME the role ROLE (user, moderator or administrator)."""
    from gallery.services import moderation
    from gallery.services.errors import ServiceError

    async def change(session: AsyncSession) -> str:
        user_id = await moderation.find_user_id(session, username)
        user = await moderation.set_role(
            session, actor=None, user_id=user_id, role=role, reason=reason
        )
        return f"{user.username} is now {user.role_name}."

    try:
        click.echo(run_in_session(change))
    except ServiceError as error:
        raise click.ClickException(error.message) from error


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` with a database session of the configured database (no Redis needed).

    On the embedded default the schema is brought to head first, as ``serve`` does.
    """
    settings = settings_with_current_schema()

    async def run() -> T:
        database = Database(str(settings.database_url))
        try:
            async with database.session() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


@asynccontextmanager
async def command_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """``started_runtime`` for a one-shot command.

    An embedded Redis server that this command had to start is stopped again at
    the end (as ``serve`` does); one that was already running is left alone.
    """
    embedded = None
    if settings.uses_embedded_redis:
        from gallery.infra.redis import EmbeddedRedis

        embedded = EmbeddedRedis(settings.instance_dir)
        if not await embedded.ensure_running():
            embedded = None
    try:
        async with started_runtime(settings) as runtime:
            yield runtime
    finally:
        if embedded is not None:
            await embedded.stop()


@contextmanager
def progressbar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A labelled click progress bar, as the progress reporter services take."""
    with click.progressbar(length=total, label=label) as bar:
        yield bar.update


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@main.command("forge")
@click.option(
    "--users", type=click.IntRange(min=0), default=12, show_default=True, help="Users to create."
)
@click.option(
    "--images",
    type=click.IntRange(min=0),
    default=300,
    show_default=True,
    help="Images to draw and upload.",
)
@click.option(
    "--comments",
    type=click.IntRange(min=0),
    default=600,
    show_default=True,
    help="Comments to post on random images.",
)
@click.option(
    "--likes",
    type=click.IntRange(min=0),
    default=1500,
    show_default=True,
    help="Likes of random images (distinct pairs).",
)
@click.option(
    "--follows",
    type=click.IntRange(min=0),
    default=40,
    show_default=True,
    help="Follows between forged users (distinct pairs).",
)
@click.option("--seed", type=int, default=None, help="Seed the random choices (reproducible).")
@click.option(
    "--password",
    default="gallery-forge",  # forge.DEFAULT_PASSWORD (the package is imported when used)
    show_default=True,
    help="The password all forged users sign in with.",
)
def forge_command(
    users: int,
    images: int,
    comments: int,
    likes: int,
    follows: int,
    seed: int | None,
    password: str,
) -> None:
    """Fill the database with fake users, generated images, comments, likes and follows.

    Users are activated at once, have e-mail addresses at example.com and share
    one password. Images are photo-like scenes drawn on the spot, uploaded
    through the same pipeline as real uploads, by random forged users; comments
    are posted by random forged users on random forged images. With --users 0
    existing users post them; with --images 0 comments and likes go on existing
    images. Likes and follows are distinct pairs, so fewer are made when there
    are not enough users or images for the number asked.
    """
    from gallery.devtools import forge
    from gallery.services.accounts import AccountError, check_password
    from gallery.services.errors import ServiceError

    try:
        check_password(password)
    except AccountError as error:
        raise click.BadParameter(error.message, param_hint="'--password'") from error
    settings = settings_with_current_schema()

    async def run() -> forge.ForgeReport:
        async with command_runtime(settings) as runtime:
            return await forge.forge(
                runtime.db,
                runtime.storage,
                runtime.redis,
                users=users,
                images=images,
                comments=comments,
                likes=likes,
                follows=follows,
                seed=seed,
                password=password,
                progress=progressbar,
            )

    try:
        report = asyncio.run(run())
    except ServiceError as error:
        raise click.ClickException(error.message) from error
    if report.usernames:
        shown = ", ".join(report.usernames[:12])
        more = len(report.usernames) - 12
        click.echo(f"Users: {shown}" + (f" and {more} more" if more > 0 else ""))
        click.echo(f"Forged users sign in with password {report.password}")
    click.echo(
        f"Forged {plural(len(report.usernames), 'user')}, {plural(report.images, 'image')}, "
        f"{plural(report.comments, 'comment')}, {plural(report.likes, 'like')}, "
        f"{plural(report.follows, 'follow')} in {report.seconds:.1f} s."
    )


@dataclass(frozen=True)
class ImportEntry:
    """A file found under the import folder, or why it is skipped without reading it."""

    name: str  # relative to the folder, for messages
    path: Path
    size: int = 0
    skip_reason: str | None = None


def find_import_files(root: Path) -> list[ImportEntry]:
    """Every file under ``root``, in name order, for ``gallery import`` (blocking: a thread).

    Hidden files and folders are left out. Symbolic links are followed only
    when they point inside ``root``, and then only to files (a linked folder's
    files are imported from where they really are); each file is listed once.
    """
    base = root.resolve()
    found: list[tuple[str, Path]] = []
    for folder, folders, files in os.walk(base):  # does not enter linked folders
        folders[:] = [name for name in folders if not name.startswith(".")]
        here = Path(folder)
        linked_folders = [name for name in folders if (here / name).is_symlink()]
        for name in files + linked_folders:
            if not name.startswith("."):
                found.append(((here / name).relative_to(base).as_posix(), here / name))
    found.sort(key=lambda item: item[0].split("/"))
    # A link to a file that is also found directly is not imported a second time.
    real_files = {path for _, path in found if not path.is_symlink()}
    entries: list[ImportEntry] = []
    seen: set[Path] = set()
    for label, path in found:
        target = path.resolve()
        if path.is_symlink():
            if not target.is_relative_to(base):
                entries.append(ImportEntry(label, path, skip_reason="a link to outside the folder"))
                continue
            if target in real_files or target.is_dir():
                continue  # found where it really is
        if target in seen:
            continue
        seen.add(target)
        try:
            stat = target.stat()
        except OSError as error:
            entries.append(ImportEntry(label, path, skip_reason=_os_reason(error)))
            continue
        if not target.is_file():
            entries.append(ImportEntry(label, path, skip_reason="not a regular file"))
            continue
        entries.append(ImportEntry(label, path, size=stat.st_size))
    return entries


def _os_reason(error: OSError) -> str:
    return f"cannot be read: {error.strerror or error}"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


@main.command("import")
@click.argument("sources", metavar="SOURCE...", nargs=-1, required=True)
@click.option("--user", "username", required=True, help="The activated user who uploads them.")
@click.option("--description", default=None, help="A description for every imported image.")
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Levels of same-site links to follow from a web page.",
)
@click.option(
    "--max", "max_photos", type=click.IntRange(min=1), default=None, help="Stop after N photos."
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=8,
    show_default=True,
    help="Web requests at once, all sites together.",
)
@click.option(
    "--per-host",
    type=click.IntRange(min=1, max=8),
    default=2,
    show_default=True,
    help="Web requests at once to one site.",
)
@click.option(
    "--delay",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    help="Seconds between the starts of two requests to one site (robots.txt may ask more).",
)
def import_command(
    sources: tuple[str, ...],
    username: str,
    description: str | None,
    depth: int,
    max_photos: int | None,
    concurrency: int,
    per_host: int,
    delay: float,
) -> None:
    """Import photos for a user from folders, web pages, feeds, sitemaps or lists of URLs.

    Each SOURCE is a folder (every image file under it, recursively, in name
    order; hidden files left out, symbolic links followed only inside it), a
    text file of web addresses (one per line), or a web address: a page (its
    <img>, <picture> and og:image photos), an RSS or Atom feed (its enclosures
    and media), a sitemap or sitemap index (image sitemaps too), a list of
    addresses, or a photo. --depth follows links to pages of the same site.

    The web is read politely: robots.txt is obeyed, at most --per-host
    requests go to one site at once, --delay apart, and 429 and 5xx answers are
    retried after the wait they ask for. Every photo goes through the upload
    pipeline; what is not an image, too large or broken is skipped with the
    reason. A photo is imported once per user, by its address and by its bytes,
    across runs: Ctrl-C stops cleanly, and the same command continues.

    Exit status: 0 when at least one photo was imported; 1 when none was; 2 for
    a usage error, such as an unknown or inactive user; 130 when stopped by Ctrl-C.
    """
    from gallery.services import images
    from gallery.services.errors import ServiceError

    if description is not None:
        try:
            description = images.check_description(description)
        except ServiceError as error:
            raise click.BadParameter(error.message, param_hint="'--description'") from error
    folders, addresses = _sort_sources(sources)
    settings = settings_with_current_schema()
    # A line per request would bury the progress line and the summary.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)

    async def run() -> tuple[int, WebImportReport | None]:
        async with command_runtime(settings) as runtime:
            user_id = await import_user_id(runtime, username)
            imported = 0
            for folder in folders:
                imported += await import_folder(
                    runtime, user_id, folder, description or "", settings.max_upload_bytes
                )
            if not addresses:
                return imported, None
            policy = web_fetch_policy(settings, concurrency, per_host, delay)
            report = await import_from_web(
                runtime, user_id, addresses, policy, depth, max_photos, description
            )
            return imported + report.imported, report

    imported, report = asyncio.run(run())
    if report is not None:
        print_web_import_summary(report)
        if report.stopped:
            click.echo("Stopped. The same command continues: nothing is imported twice.")
            sys.exit(130)
    if imported == 0:
        sys.exit(1)


def _sort_sources(sources: tuple[str, ...]) -> tuple[list[Path], list[str]]:
    """The folders, and the web addresses (those of the files of addresses read in)."""
    from gallery.infra.web_sources import parse_url_list

    folders: list[Path] = []
    addresses: list[str] = []
    for source in sources:
        if source.startswith(("http://", "https://")):
            addresses.append(source)
            continue
        path = Path(source)
        if path.is_dir():
            folders.append(path)
        elif path.is_file():
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError as error:
                raise click.BadParameter(f"{source}: {_os_reason(error)}") from error
            listed = parse_url_list(text)
            if not listed:
                raise click.BadParameter(f"{source} lists no http or https address.")
            addresses.extend(listed)
        else:
            raise click.BadParameter(
                f"{source!r} is neither a folder, a file of addresses nor an http(s) address."
            )
    return folders, addresses


async def import_folder(
    runtime: Runtime, user_id: int, directory: Path, description: str, limit: int
) -> int:
    """The folder part of ``gallery import``: its files, with a progress bar and a summary."""
    entries = await asyncio.to_thread(find_import_files, directory)
    if not entries:
        raise click.ClickException(f"There are no files to import under {directory}.")
    skipped: list[tuple[str, str]] = []
    imported = 0
    with click.progressbar(
        length=len(entries), label="Importing", item_show_func=lambda name: name
    ) as bar:
        for entry in entries:
            reason = entry.skip_reason
            if reason is None:
                reason = await import_one(runtime, user_id, entry, description, limit)
            if reason is None:
                imported += 1
            else:
                skipped.append((entry.name, reason))
            bar.update(1, entry.name)
    summary = f"Imported {imported} of {plural(len(entries), 'file')}"
    if skipped:
        click.echo(f"{summary}; skipped {len(skipped)}:")
        for name, reason in skipped:
            click.echo(f"  {name}: {reason}")
    else:
        click.echo(f"{summary}.")
    return imported


def web_fetch_policy(
    settings: Settings, concurrency: int, per_host: int, delay: float
) -> WebFetchPolicy:
    from gallery.infra.web_fetch import FetchPolicy

    return FetchPolicy(
        user_agent=f"GalleryImporter/1.0 (+{settings.public_url})",
        concurrency=concurrency,
        per_host=min(per_host, concurrency),
        delay_seconds=delay,
    )


async def import_from_web(
    runtime: Runtime,
    user_id: int,
    addresses: list[str],
    policy: WebFetchPolicy,
    depth: int,
    max_photos: int | None,
    description: str | None,
) -> WebImportReport:
    """The web part of ``gallery import``, with a progress line on a terminal."""
    from gallery.infra.web_fetch import PoliteFetcher
    from gallery.services.web_import import ImportLimits, WebImport

    limits = ImportLimits(
        max_photo_bytes=runtime.settings.max_upload_bytes,
        depth=depth,
        max_photos=max_photos,
        description=description,
    )
    progress = ProgressLine(enabled=sys.stderr.isatty())
    async with PoliteFetcher(policy) as fetcher:
        crawl = WebImport(
            runtime.db,
            runtime.storage,
            runtime.redis,
            fetcher,
            author_id=user_id,
            limits=limits,
            on_progress=progress.show,
        )
        report = await crawl.run(addresses)
    progress.close()
    return report


class ProgressLine:
    """One line on the terminal, redrawn as the import moves (at most ten times a second)."""

    WIDTH = 24

    def __init__(self, *, enabled: bool) -> None:
        from gallery.services.web_import import SKIP_KINDS

        self.labels = SKIP_KINDS
        self.enabled = enabled
        self.drawn_at = 0.0
        self.drawn = False

    def show(self, report: WebImportReport) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.drawn_at < 0.1:
            return
        self.drawn_at = now
        done = report.imported + len(report.skipped)
        filled = self.WIDTH * min(done, report.found) // max(report.found, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        reasons = ", ".join(
            f"{self.labels.get(kind, kind)} {count}"
            for kind, count in report.skipped_by_kind().most_common(3)
        )
        line = (
            f"\rImporting [{bar}] found {report.found} · fetched {report.fetched} · "
            f"imported {report.imported} · skipped {len(report.skipped)}"
            + (f" ({reasons})" if reasons else "")
        )
        click.echo(line[:200].ljust(120), nl=False, err=True)
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            click.echo(err=True)


# URLs listed per kind of skip in the summary; the rest are counted.
SKIPS_LISTED = 10


def print_web_import_summary(report: WebImportReport) -> None:
    from gallery.services.web_import import SKIP_KINDS

    read = (
        "1 page, feed, sitemap or list"
        if report.sources_read == 1
        else f"{report.sources_read} pages, feeds, sitemaps or lists"
    )
    head = (
        f"Imported {plural(report.imported, 'photo')} from the web (found {report.found}, "
        f"fetched {report.fetched}; read {read})"
    )
    if report.reached_max:
        head += "; stopped at --max"
    if not report.skipped:
        click.echo(f"{head}.")
        return
    click.echo(f"{head}; skipped {len(report.skipped)}:")
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for skip in report.skipped:
        by_kind.setdefault(skip.kind, []).append((skip.url, skip.reason))
    for kind, skips in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        click.echo(f"  {SKIP_KINDS.get(kind, kind)}: {len(skips)}")
        for url, reason in skips[:SKIPS_LISTED]:
            click.echo(f"    {url}: {reason}")
        if len(skips) > SKIPS_LISTED:
            click.echo(f"    … and {len(skips) - SKIPS_LISTED} more")


async def import_user_id(runtime: Runtime, username: str) -> int:
    """The id of the user ``gallery import`` uploads as; a usage error if they cannot."""
    from gallery.services import images, users
    from gallery.services.errors import NotFoundError, PermissionDenied

    async with runtime.db.session() as session:
        try:
            user = await users.find_account_by_username(session, username)
        except NotFoundError:
            problem = f"there is no user called {username!r}."
            raise click.BadParameter(problem, param_hint="'--user'") from None
    try:
        images.check_can_upload(user)
    except PermissionDenied:
        # The service's refusal is worded for the uploader ("Your account may
        # not…"); the operator running the command is told whose account and why.
        if not user.is_active:
            problem = f"{user.username} has not activated their account."
        else:
            problem = f"{user.username} may not upload images."
        raise click.BadParameter(problem, param_hint="'--user'") from None
    return user.id


async def import_one(
    runtime: Runtime, user_id: int, entry: ImportEntry, description: str, limit: int
) -> str | None:
    """Ingest one file for ``gallery import``; None if it was stored, else why not."""
    from gallery.services import images, users
    from gallery.services.errors import NotFoundError, ServiceError

    too_big = f"larger than the upload limit of {_megabytes(limit)}"
    if entry.size > limit:
        return f"{too_big} ({_megabytes(entry.size)})"
    try:
        data = await asyncio.to_thread(entry.path.read_bytes)
    except OSError as error:
        return _os_reason(error)
    if len(data) > limit:  # it grew since the folder was listed
        return f"{too_big} ({_megabytes(len(data))})"
    async with runtime.db.session() as session:
        try:
            author = await users.find_account_by_id(session, user_id)
        except NotFoundError:
            return "the user was deleted during the import"
        try:
            await images.ingest(
                session,
                runtime.storage,
                runtime.redis,
                author=author,
                data=data,
                description=description,
            )
        except ServiceError as error:
            return error.message
    return None


@main.group()
def storage() -> None:
    """Where photos are stored: the folder, or the bucket of GALLERY_STORAGE_URL."""


@storage.command("check")
def storage_check() -> None:
    """Store, read back, fetch (as a browser would) and delete a probe file.

    Says exactly which step failed and why; exits 1 if one did.
    """
    from gallery.infra.storage import make_storage
    from gallery.infra.storage_check import check_storage  # aiohttp: only when used

    try:
        store = make_storage(Settings())
    except ValueError as error:  # pydantic's ValidationError is one too
        raise click.ClickException(f"the storage settings: {error}") from error

    async def run() -> list[CheckStep]:
        await store.start()
        try:
            return await check_storage(store)
        finally:
            await store.close()

    click.echo(f"Checking {store}")
    try:
        steps = asyncio.run(run())
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot use the storage: {error}") from error
    for step in steps:
        mark = click.style("ok  ", fg="green") if step.ok else click.style("FAIL", fg="red")
        click.echo(f"  {mark} {step.name}" + (f": {step.detail}" if step.detail else ""))
    if not all(step.ok for step in steps):
        raise SystemExit(1)
    click.echo("The storage works.")


@storage.command("sweep")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    default=None,
    help="Seconds a recorded write must be old to count as orphaned "
    "(default: GALLERY_STORAGE_WRITE_GRACE_SECONDS, 3600).",
)
def storage_sweep(dry_run: bool, grace: int | None) -> None:
    """Remove the files that crashes orphaned (the worker does this every few minutes).

    Only what the storage ledger recorded: files of uploads that never
    committed, and files of deleted photos that were not yet removed.
    """
    from datetime import timedelta

    from gallery.infra.storage import make_storage
    from gallery.services import storage as stored_files

    settings = settings_with_current_schema()
    seconds = settings.storage_write_grace_seconds if grace is None else grace

    async def run() -> stored_files.SweepReport:
        database = Database(str(settings.database_url))
        store = make_storage(settings)
        await store.start()
        try:
            return await stored_files.sweep(
                database, store, write_grace=timedelta(seconds=seconds), dry_run=dry_run
            )
        finally:
            await store.close()
            await database.dispose()

    try:
        report = asyncio.run(run())
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot sweep: {error}") from error
    verb = "Would remove" if dry_run else "Removed"
    click.echo(f"{verb} {plural(len(report.removed), 'orphaned file')}.")
    for key in report.removed:
        click.echo(f"  {key}")
    if report.failed:
        click.echo(f"Could not remove {plural(len(report.failed), 'file')} (retried next time):")
        for key in report.failed:
            click.echo(f"  {key}")
    if report.waiting:
        click.echo(
            f"{plural(report.waiting, 'recent record')} left alone (uploads may be running)."
        )
    if report.failed:
        sys.exit(1)


@storage.command("migrate")
@click.option("--to", "destination", required=True, help="The bucket: s3://bucket[/prefix].")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=8,
    show_default=True,
    help="Files copied at once.",
)
def storage_migrate(destination: str, concurrency: int) -> None:
    """Copy every stored file from the folder to a bucket; then switch GALLERY_STORAGE_URL.

    Resumable: a file already in the bucket with the same size is not copied
    again. Every copy is checked by its size in the bucket afterwards. Uses the
    GALLERY_S3_* (or AWS_*) settings to reach the bucket.
    """
    from gallery.infra.storage import make_storage
    from gallery.services import storage as stored_files

    settings = settings_with_current_schema()
    if settings.storage_url:
        raise click.ClickException(
            "GALLERY_STORAGE_URL is set: migrate copies from the folder (GALLERY_MEDIA_DIR). "
            "Unset it for the migration, and set it to the bucket afterwards."
        )
    try:
        target = make_storage(settings.model_copy(update={"storage_url": destination}))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--to'") from error
    source = make_storage(settings)

    async def run() -> stored_files.MigrationReport:
        database = Database(str(settings.database_url))
        await target.start()
        try:
            keys = await stored_files.stored_keys(database)
            with progressbar(f"Copying to {destination}", len(keys)) as advance:
                return await stored_files.copy_files(
                    source, target, keys, concurrency=concurrency, progress=advance
                )
        finally:
            await target.close()
            await database.dispose()

    try:
        report = asyncio.run(run())
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot migrate: {error}") from error
    click.echo(
        f"Copied {plural(len(report.copied), 'file')}; "
        f"{len(report.already_there)} already in the bucket."
    )
    if report.missing:
        click.echo(f"{plural(len(report.missing), 'file')} missing in the folder (not copied):")
        for key in report.missing:
            click.echo(f"  {key}")
    if report.failed:
        click.echo(f"{plural(len(report.failed), 'file')} failed (run the command again):")
        for key, reason in report.failed:
            click.echo(f"  {key}: {reason}")
        sys.exit(1)
    click.echo(f"Done: set GALLERY_STORAGE_URL={destination} and restart Gallery.")


if __name__ == "__main__":
    main()
