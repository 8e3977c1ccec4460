"""Running the site from the browser: accounts, the report queue, the moderation log.

Every page here is rendered for moderators or administrators only
(``permission_required``), and every action is checked again by the service
behind it. Actions post, flash what happened and go back with a 303 to the
page they came from (the form's ``next``), so a moderator working down a
filtered list or a page of the queue stays where they were. A refusal a
moderator can fix on the spot (a missing reason, reports someone else
already handled) is flashed on that page too; a real lack of rights is the
403 page.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.models.moderation import ModerationAction
from gallery.models.user import Permission, Role, User
from gallery.services import deletion, moderation, reports
from gallery.services.errors import Conflict, InvalidInput, NotFoundError
from gallery.services.moderation import REASON_MAX_LENGTH, UserFilter
from gallery.services.permissions import can, outranks
from gallery.services.reports import NOUNS
from gallery.web.current_user import require_user
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import rate_limit_exempt
from gallery.web.resources import resources
from gallery.web.security import return_path
from gallery.web.shapes import cover_thumb_url, iso_utc

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERS_PAGE_SIZE = 30
LOG_PAGE_SIZE = 50
# Report kinds in the action URLs; anything else is a 404 before the view runs.
KIND_RULE = "<any(image, comment):kind>"
# Why the actions here spend no rate limit.
STAFF_ONLY = "moderators and administrators only, each action is in the moderation log"

FILTER_LABELS = {
    UserFilter.ALL: "All",
    UserFilter.LOCKED: "Locked",
    UserFilter.UNACTIVATED: "Not activated",
    UserFilter.MODERATORS: "Moderators",
}

ACTION_LABELS: dict[str, str] = {
    ModerationAction.DISMISS_REPORTS: "Dismissed reports",
    ModerationAction.DELETE_IMAGE: "Deleted a photo",
    ModerationAction.DELETE_COMMENT: "Deleted a comment",
    ModerationAction.LOCK_USER: "Locked an account",
    ModerationAction.UNLOCK_USER: "Unlocked an account",
    ModerationAction.CHANGE_ROLE: "Changed a role",
    ModerationAction.RESEND_ACTIVATION: "Resent the activation mail",
    ModerationAction.DISABLE_COMMENTS: "Turned comments off",
    ModerationAction.ENABLE_COMMENTS: "Turned comments on",
    ModerationAction.MARK_SENSITIVE: "Put behind a content warning",
    ModerationAction.UNMARK_SENSITIVE: "Removed the content warning",
    ModerationAction.DELETE_ACCOUNT: "Deleted an account",
}


def action_label(action: str) -> str:
    """A log entry's action in words (the raw value for one this page does not know yet)."""
    return ACTION_LABELS.get(action, action.replace("_", " ").capitalize())


def page_context() -> dict[str, object]:
    """What every admin template uses besides its own data."""
    return {
        "iso": iso_utc,
        "back": request.full_path.rstrip("?"),
        "reason_max_length": REASON_MAX_LENGTH,
    }


async def form_value(name: str) -> str | None:
    return (await request.form).get(name)


async def go_back(default: str) -> ResponseReturnValue:
    return redirect(await return_path(default), 303)


def accounts_page_for(actor: User, user: User) -> str:
    """Where a lock or unlock without ``next`` returns: a page the actor can open."""
    if can(actor, Permission.ADMINISTER):
        return url_for("admin.dashboard")
    if user.is_active:
        return url_for("users.profile", username=user.username)
    return url_for("admin.reports")


# -- the dashboard -------------------------------------------------------------


def user_filter(value: str | None) -> UserFilter:
    try:
        return UserFilter(value or UserFilter.ALL.value)
    except ValueError:
        # A 400 rather than quietly showing everyone: a mistyped filter that
        # showed all accounts would look like a filter that matched them all.
        names = ", ".join(choice.value for choice in UserFilter)
        raise InvalidInput(
            f"There is no user filter {value!r}; choose one of {names}.", field="filter"
        ) from None


@bp.get("")
@permission_required(Permission.ADMINISTER)
async def dashboard() -> ResponseReturnValue:
    """Site counts, then the accounts: search, filter tabs, 30 at a time."""
    session = resources().db
    search = (request.args.get("q") or "").strip()
    which = user_filter(request.args.get("filter"))
    page = await moderation.list_users(
        session,
        search=search,
        which=which,
        limit=USERS_PAGE_SIZE,
        cursor=request.args.get("cursor"),
    )
    # The search and filter the "More" and "back" links keep (absent when default).
    filter_args: dict[str, Any] = {
        "q": search or None,
        "filter": which.value if which is not UserFilter.ALL else None,
    }
    return await render_template(
        "admin/dashboard.html",
        counts=await moderation.site_counts(session),
        users=page.users,
        search=search,
        which=which.value,
        tabs=[
            {
                "value": choice.value,
                "label": FILTER_LABELS[choice],
                "url": url_for(
                    "admin.dashboard",
                    q=search or None,
                    filter=choice.value if choice is not UserFilter.ALL else None,
                ),
            }
            for choice in UserFilter
        ],
        first_url=url_for("admin.dashboard", **filter_args),
        more_url=url_for("admin.dashboard", cursor=page.next_cursor, **filter_args)
        if page.next_cursor
        else None,
        role_names=Role.NAMES,
        outranks=outranks,
        **page_context(),
    )


# -- account actions -------------------------------------------------------------


@bp.post("/users/<int:user_id>/lock")
@permission_required(Permission.MODERATE)
@rate_limit_exempt(STAFF_ONLY)
async def lock_user(user_id: int) -> ResponseReturnValue:
    return await change_lock(user_id, lock=True)


@bp.post("/users/<int:user_id>/unlock")
@permission_required(Permission.MODERATE)
@rate_limit_exempt(STAFF_ONLY)
async def unlock_user(user_id: int) -> ResponseReturnValue:
    return await change_lock(user_id, lock=False)


@bp.post("/users/<int:user_id>/delete")
@permission_required(Permission.ADMINISTER)
@rate_limit_exempt(STAFF_ONLY)
async def delete_user(user_id: int) -> ResponseReturnValue:
    """Delete an account as its owner would, logged with the reason (administrators)."""
    use = resources()
    user = await deletion.delete_account_as_administrator(
        use.db,
        use.redis,
        use.sign_ins,
        actor=require_user(),
        user_id=user_id,
        reason=await form_value("reason"),
    )
    await flash(
        f"The account {user.username} is deleted: hidden now, emptied in the background.",
        "success",
    )
    return redirect(url_for("admin.dashboard"), 303)


async def change_lock(user_id: int, *, lock: bool) -> ResponseReturnValue:
    """Lock or unlock, then back to the page the form was on."""
    actor = require_user()
    session = resources().db
    user = await moderation.get_user(session, user_id)
    default = accounts_page_for(actor, user)
    change = moderation.lock_user if lock else moderation.unlock_user
    try:
        await change(
            session,
            actor=actor,
            user_id=user_id,
            reason=await form_value("reason"),
            redis=resources().redis,
        )
    except InvalidInput as error:
        message = f"{user.username} is not locked: {error.message}" if lock else error.message
        await flash(message, "danger")
        return await go_back(default)
    await flash(f"{user.username} is {'locked' if lock else 'unlocked'}.", "success")
    return await go_back(default)


@bp.post("/users/<int:user_id>/role")
@permission_required(Permission.ADMINISTER)
@rate_limit_exempt(STAFF_ONLY)
async def change_role(user_id: int) -> ResponseReturnValue:
    actor = require_user()
    session = resources().db
    user = await moderation.get_user(session, user_id)
    before = user.role_name
    default = url_for("admin.dashboard")
    try:
        await moderation.set_role(
            session,
            actor=actor,
            user_id=user_id,
            role=await form_value("role") or "",
            reason=await form_value("reason"),
        )
    except (InvalidInput, Conflict) as error:
        await flash(error.message, "danger")
        return await go_back(default)
    if user.role_name == before:
        await flash(f"{user.username} is already a {before}; nothing changed.", "info")
    else:
        await flash(f"{user.username} is now a {user.role_name} (was a {before}).", "success")
    return await go_back(default)


@bp.post("/users/<int:user_id>/resend-activation")
@permission_required(Permission.ADMINISTER)
@rate_limit_exempt(STAFF_ONLY)
async def resend_activation(user_id: int) -> ResponseReturnValue:
    use = resources()
    actor = require_user()
    session = use.db
    default = url_for("admin.dashboard")
    try:
        user = await moderation.resend_activation(
            session, use.redis, use.mailer, actor=actor, user_id=user_id
        )
    except InvalidInput as error:
        await flash(error.message, "info")
        return await go_back(default)
    await flash(f"A new activation mail to {user.username} is on its way.", "success")
    return await go_back(default)


# -- the report queue ------------------------------------------------------------


def queue_page_number(value: str | None) -> int:
    if value is None or value == "":
        return 1
    if not value.isdigit() or int(value) < 1:
        raise InvalidInput("The page of the queue is a whole number from 1.", field="page")
    return int(value)


# Named "admin.reports" explicitly: a view called ``reports`` would shadow the service module.
@bp.get("/reports", endpoint="reports")
@permission_required(Permission.MODERATE)
async def report_queue() -> ResponseReturnValue:
    """Open reports grouped by what they are about, most-reported first."""
    use = resources()
    number = queue_page_number(request.args.get("page"))
    page = await reports.queue(use.db, page=number)
    storage = use.storage
    thumbs = {
        group.image.id: cover_thumb_url(storage, group.image)
        for group in page.groups
        if group.image is not None
    }
    return await render_template(
        "admin/reports.html",
        page=page,
        thumbs=thumbs,
        nouns=NOUNS,
        outranks=outranks,
        prev_url=url_for("admin.reports", page=number - 1) if number > 1 else None,
        next_url=url_for("admin.reports", page=number + 1) if page.has_next else None,
        **page_context(),
    )


async def queue_action_failed(error: InvalidInput | NotFoundError) -> ResponseReturnValue:
    # Reports another moderator handled a moment ago are news, not a mistake.
    await flash(error.message, "info" if isinstance(error, NotFoundError) else "danger")
    return await go_back(url_for("admin.reports"))


@bp.post(f"/reports/{KIND_RULE}/<int:target_id>/dismiss")
@permission_required(Permission.MODERATE)
@rate_limit_exempt(STAFF_ONLY)
async def dismiss_reports(kind: str, target_id: int) -> ResponseReturnValue:
    target = reports.target_kind(kind)
    try:
        count = await reports.dismiss(
            resources().db,
            actor=require_user(),
            kind=target,
            target_id=target_id,
            reason=await form_value("reason"),
        )
    except (InvalidInput, NotFoundError) as error:
        return await queue_action_failed(error)
    noun = "report" if count == 1 else "reports"
    await flash(f"Dismissed {count} {noun} on the {NOUNS[target]}.", "success")
    return await go_back(url_for("admin.reports"))


@bp.post(f"/reports/{KIND_RULE}/<int:target_id>/delete")
@permission_required(Permission.MODERATE)
@rate_limit_exempt(STAFF_ONLY)
async def delete_reported(kind: str, target_id: int) -> ResponseReturnValue:
    use = resources()
    target = reports.target_kind(kind)
    try:
        await reports.delete_reported(
            use.db,
            use.storage,
            use.redis,
            actor=require_user(),
            kind=target,
            target_id=target_id,
            reason=await form_value("reason"),
        )
    except (InvalidInput, NotFoundError) as error:
        return await queue_action_failed(error)
    await flash(f"The reported {NOUNS[target]} is deleted.", "success")
    return await go_back(url_for("admin.reports"))


@bp.post(f"/reports/{KIND_RULE}/<int:target_id>/lock-author")
@permission_required(Permission.MODERATE)
@rate_limit_exempt(STAFF_ONLY)
async def lock_reported_author(kind: str, target_id: int) -> ResponseReturnValue:
    try:
        author = await reports.lock_author(
            resources().db,
            actor=require_user(),
            kind=reports.target_kind(kind),
            target_id=target_id,
            reason=await form_value("reason"),
            redis=resources().redis,
        )
    except (InvalidInput, NotFoundError) as error:
        return await queue_action_failed(error)
    await flash(f"{author.username} is locked.", "success")
    return await go_back(url_for("admin.reports"))


# -- the moderation log ----------------------------------------------------------


@bp.get("/log")
@permission_required(Permission.MODERATE)
async def log() -> ResponseReturnValue:
    """Who did what to whom and why, newest first."""
    page = await moderation.list_log(
        resources().db, limit=LOG_PAGE_SIZE, cursor=request.args.get("cursor")
    )
    return await render_template(
        "admin/log.html",
        entries=page.entries,
        action_label=action_label,
        more_url=url_for("admin.log", cursor=page.next_cursor) if page.next_cursor else None,
        **page_context(),
    )
