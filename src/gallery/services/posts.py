"""Changing a post after it is posted: its words (with their history), its content
warning, and who sees it (the author's choice: public or followers only).

The author edits the caption and the alt texts. What they said before is kept
(``PostVersion``, one row per edit, in the edit's transaction) for the author
and moderators to see; the post shows "edited". Hashtags are parsed again in
the same transaction, so a tag page never lists a post whose caption lost the
tag. Moderators do not rewrite people's words, but they, like the author, can
put a post behind a content warning or take it away; a moderator doing so on
someone else's post is written to the moderation log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery.models.base import utcnow
from gallery.models.image import CONTENT_WARNING_MAX_LENGTH, Image, PostVersion
from gallery.models.moderation import ModerationAction
from gallery.models.social import image_tags
from gallery.models.user import Permission, User
from gallery.services import images, moderation, privacy, visibility
from gallery.services.errors import InvalidInput, NotFoundError, PermissionDenied
from gallery.services.feeds import bump_feed_version
from gallery.services.permissions import can, require_permission
from gallery.services.tags import attach_tags, parse_hashtags
from gallery.services.validation import bounded_text


@dataclass(frozen=True)
class PostChanges:
    """What to change; ``None`` leaves a part as it is."""

    description: str | None = None
    # Photo id → its new alt text; photos not named keep theirs.
    alt_texts: Mapping[int, str] | None = None
    sensitive: bool | None = None
    # With ``sensitive``; "" or None for a warning without words.
    content_warning: str | None = None
    # "public" or "followers": the author's alone to choose.
    visibility: str | None = None

    @property
    def changes_words(self) -> bool:
        return self.description is not None or self.alt_texts is not None

    @property
    def changes_warning(self) -> bool:
        return self.sensitive is not None or self.content_warning is not None


@dataclass(frozen=True)
class AltTextVersion:
    photo_id: int
    alt_text: str


@dataclass(frozen=True)
class Version:
    """What a post said from ``valid_from`` until ``replaced_at`` (None: it still does)."""

    description: str
    alt_texts: list[AltTextVersion]
    valid_from: datetime
    replaced_at: datetime | None
    editor: str | None  # who replaced it (None for the current one, or a deleted account)


def check_content_warning(text: str | None) -> str | None:
    warning = bounded_text(
        text,
        what="content warning",
        field="content_warning",
        max_length=CONTENT_WARNING_MAX_LENGTH,
    )
    return warning or None


async def _locked_post(session: AsyncSession, image_id: int) -> Image:
    post = await session.scalar(
        select(Image)
        .where(Image.id == image_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if post is None:
        raise NotFoundError("There is no image with that id (it may have been deleted).")
    return post


def _alt_texts_of(post: Image) -> list[AltTextVersion]:
    return [AltTextVersion(photo.id, photo.alt_text) for photo in post.photos]


async def edit_post(
    session: AsyncSession,
    redis: aioredis.Redis | None,
    *,
    image_id: int,
    actor: User,
    changes: PostChanges,
) -> Image:
    """Apply ``changes`` to a post and return it, committed.

    The caption and alt texts: the author only, while their account may act
    (``PermissionDenied``/``AccountLocked`` otherwise); an edit that changes
    nothing writes no version. The content warning: the author (a locked one
    may still add it) or a moderator (logged when it is someone else's post).
    ``InvalidInput`` for text too long or an alt text for a photo not in the post.
    """
    post = await _locked_post(session, image_id)
    own = actor.id == post.author_id
    if not own:  # 404 for someone who may not even see it, as for an absent post
        await visibility.check_post_visible(session, actor, post.author_id, post.is_public)
    if changes.changes_words:
        if not own:
            raise PermissionDenied("Only the author can edit the caption and the alt texts.")
        require_permission(actor)
    if changes.changes_warning and not (own or can(actor, Permission.MODERATE)):
        raise PermissionDenied("Only the author or a moderator can change the content warning.")
    audience = post.visibility
    if changes.visibility is not None:
        if not own:
            raise PermissionDenied("Only the author can choose who sees a post.")
        audience = privacy.check_visibility(changes.visibility).value

    description = (
        images.check_description(changes.description)
        if changes.description is not None
        else post.description
    )
    photos_by_id = {photo.id: photo for photo in post.photos}
    new_alt_texts = {photo.id: photo.alt_text for photo in post.photos}
    for photo_id, text in (changes.alt_texts or {}).items():
        if photo_id not in photos_by_id:
            raise InvalidInput(f"Photo {photo_id} is not part of this post.", field="alt_texts")
        new_alt_texts[photo_id] = images.check_alt_text(text)
    warning = (
        check_content_warning(changes.content_warning)
        if changes.content_warning is not None
        else post.content_warning
    )
    sensitive = post.sensitive if changes.sensitive is None else changes.sensitive
    if not sensitive:
        warning = None

    words_changed = description != post.description or any(
        new_alt_texts[photo.id] != photo.alt_text for photo in post.photos
    )
    warning_changed = sensitive != post.sensitive or warning != post.content_warning
    audience_changed = audience != post.visibility
    if warning_changed and sensitive is False and post.sensitive and own:
        # Taking a warning away is an action like any other: not while locked.
        require_permission(actor)
    if not (words_changed or warning_changed or audience_changed):
        # Ends the transaction (and its row lock); a rollback would also expire
        # every object the request loaded, the signed-in user among them.
        await session.commit()
        return post

    now = utcnow()
    if words_changed:
        session.add(
            PostVersion(
                image_id=post.id,
                editor_id=actor.id,
                description=post.description,
                alt_texts=json.dumps(
                    [{"photo_id": v.photo_id, "alt_text": v.alt_text} for v in _alt_texts_of(post)]
                ),
                valid_from=post.edited_at or post.created_at,
                replaced_at=now,
            )
        )
        if description != post.description:
            await session.execute(delete(image_tags).where(image_tags.c.image_id == post.id))
            await attach_tags(session, post.id, parse_hashtags(description))
        post.description = description
        for photo in post.photos:
            photo.alt_text = new_alt_texts[photo.id]
        post.edited_at = now
    if warning_changed:
        if not own:
            author_name = await session.scalar(
                select(User.username).where(User.id == post.author_id)
            )
            moderation.record(
                session,
                actor=actor,
                action=(
                    ModerationAction.MARK_SENSITIVE
                    if sensitive
                    else ModerationAction.UNMARK_SENSITIVE
                ),
                target=f"image {post.id}",
                subject_id=post.author_id,
                summary=moderation.image_summary(post, author_name or "?"),
                reason=warning or "",
            )
        post.sensitive = sensitive
        post.content_warning = warning
    if audience_changed:
        post.visibility = audience
        post.is_public = privacy.is_public(audience, actor)
    await session.commit()
    if redis is not None:
        # Every cached feed page, tag page and search result is keyed by this version.
        await bump_feed_version(redis)
    return post


async def version_history(session: AsyncSession, *, image_id: int, viewer: User) -> list[Version]:
    """A post's words now and before each edit, newest first: its author and moderators only.

    Anyone else gets ``NotFoundError``, as if there were no history to see.
    """
    post = await session.scalar(
        select(Image).options(joinedload(Image.author)).where(Image.id == image_id)
    )
    if post is None or not (viewer.id == post.author_id or can(viewer, Permission.MODERATE)):
        raise NotFoundError("There is no history of that post to show you.")
    rows = (
        await session.execute(
            select(PostVersion, User.username)
            .outerjoin(User, User.id == PostVersion.editor_id)
            .where(PostVersion.image_id == image_id)
            .order_by(PostVersion.id.desc())
        )
    ).all()
    current = Version(
        description=post.description,
        alt_texts=_alt_texts_of(post),
        valid_from=post.edited_at or post.created_at,
        replaced_at=None,
        editor=None,
    )
    earlier = [
        Version(
            description=version.description,
            alt_texts=[
                AltTextVersion(int(item["photo_id"]), str(item["alt_text"]))
                for item in json.loads(version.alt_texts)
            ],
            valid_from=version.valid_from,
            replaced_at=version.replaced_at,
            editor=editor,
        )
        for version, editor in rows
    ]
    return [current, *earlier]
