"""Account pages: register, activate, sign in and out, password reset and change."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from quart import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from quart.typing import ResponseReturnValue
from quart_auth import login_user, logout_user
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.models.user import User
from gallery.services import (
    accounts,
    email_change,
    passkeys,
    privacy,
    two_factor,
    usernames,
    users,
)
from gallery.services.errors import InvalidInput
from gallery.services.mail import Mailer
from gallery.web.current_user import require_user, session_user, signed_in_user
from gallery.web.forms import (
    ChangePasswordForm,
    EmailForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
    posted_form,
    show_account_error,
)
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import (
    count_attempt,
    count_guess_on_account,
    rate_limit_exempt,
    rate_limited,
)
from gallery.web.resources import resources
from gallery.web.security import client_address, relying_party, safe_next
from gallery.web.sessions import SessionUser

bp = Blueprint("auth", __name__)

# A password accepted for an account with two-factor sign-in on waits here (in
# the server-side session) for its code, at most this long.
SECOND_FACTOR_KEY = "second_factor"
SECOND_FACTOR_SECONDS = 300


async def start_sign_in(user: User, *, remember: bool) -> None:
    """Sign ``user`` in with a fresh token and a fresh session id (no fixation)."""
    token = await resources().sign_ins.create(
        user.id,
        remember=remember,
        ip=client_address(),
        user_agent=request.headers.get("User-Agent", ""),
    )
    login_user(SessionUser(token), remember=remember)
    session.regenerate()  # type: ignore[attr-defined]


# The form limits are counted once the form is valid: a typo costs nothing.
@bp.route("/register", methods=["GET", "POST"])
@rate_limited("registrations", counted_in_view=True)
async def register() -> ResponseReturnValue:
    """Registration; an e-mail address that has an account is answered as a free one.

    ``accounts.sign_up`` mails that address's owner instead of creating
    anything, so the page (flash, redirect, status) cannot tell who is
    registered; a taken username is still said (usernames are public).
    """
    use = resources()
    if signed_in_user() is not None:
        return redirect(url_for("main.index"))
    form = await posted_form(RegisterForm)
    if request.method == "POST" and form.validate():
        await count_attempt("registrations")
        try:
            signed_up = await accounts.sign_up(
                use.db,
                use.redis,
                use.mailer,
                username=form.username.data or "",
                email=form.email.data or "",
                password=form.password.data or "",
            )
        except accounts.AccountError as error:
            show_account_error(form, error)
        else:
            await flash(
                f"Welcome, {signed_up.username}! We sent a link to {signed_up.email}: "
                "open it to activate your account, then sign in.",
                "success",
            )
            return redirect(url_for("auth.login"))
    status = 400 if form.errors else 200
    return await render_template("auth/register.html", form=form), status


@bp.get("/activate/<token>")
async def activate(token: str) -> ResponseReturnValue:
    use = resources()
    user = await accounts.activate(use.db, use.redis, token)
    if user is None:
        await flash(
            "That activation link is not valid: it was used already or it expired. "
            "Ask for a new one below.",
            "danger",
        )
        return redirect(url_for("auth.resend_activation"))
    await flash(f"Your account {user.username} is active. You can sign in now.", "success")
    return redirect(url_for("auth.login"))


MailRequest = Callable[[AsyncSession, Redis, Mailer, str], Awaitable[bool]]


async def mail_request_page(
    *, template: str, by_address: str, by_email: str, send: MailRequest, confirmation: str
) -> ResponseReturnValue:
    """A page that mails a link to an address (activation, reset), rate-limited twice.

    ``by_address`` and ``by_email`` name the route's two ``RATE_LIMITS`` entries:
    one for the client's address, one for the e-mail address typed in.

    The confirmation reads the same whether or not an account has the address,
    so the page does not tell strangers who is registered.
    """
    use = resources()
    form = await posted_form(EmailForm)
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"][:254]
    if request.method == "POST" and form.validate():
        email = form.email.data or ""
        await count_attempt(by_address)
        await count_attempt(by_email, User.key_for(email))
        await send(use.db, use.redis, use.mailer, email)
        await flash(confirmation.format(email=email), "info")
        return redirect(url_for("auth.login"))
    status = 400 if form.errors else 200
    return await render_template(template, form=form), status


@bp.route("/activate/resend", methods=["GET", "POST"])
@rate_limited("activation-mails-by-address", "activation-mails-by-email", counted_in_view=True)
async def resend_activation() -> ResponseReturnValue:
    return await mail_request_page(
        template="auth/resend.html",
        by_address="activation-mails-by-address",
        by_email="activation-mails-by-email",
        send=accounts.resend_activation,
        confirmation="If {email} belongs to an account that is not active yet, a new "
        "activation link is on its way.",
    )


@bp.route("/login", methods=["GET", "POST"])
@rate_limited("sign-ins-by-address", "sign-ins-by-account", counted_in_view=True)
async def login() -> ResponseReturnValue:
    next_url = safe_next(request.args.get("next"))
    if signed_in_user() is not None:
        return redirect(next_url)
    form = await posted_form(LoginForm)
    inactive_email: str | None = None
    if request.method == "POST" and form.validate():
        login_text = form.login.data or ""
        await count_attempt("sign-ins-by-address")
        # One counter per account however it is typed (username or e-mail, any
        # case): each spelling must not buy its own ten guesses. Unknown names
        # are counted and answered the same way, so neither tells who exists.
        account = await accounts.find_by_login(resources().db, login_text)
        await count_attempt(
            "sign-ins-by-account", accounts.sign_in_attempts_key(account, login_text)
        )
        try:
            user = await accounts.check_sign_in(account, form.password.data or "")
        except accounts.InactiveAccount as error:
            form.form_errors.append(error.message)
            inactive_email = error.user.email
        except accounts.AccountError as error:
            form.form_errors.append(error.message)
        else:
            if user.has_two_factor:
                # Half a sign-in: the session starts once a code proves the second factor.
                session[SECOND_FACTOR_KEY] = {
                    "user_id": user.id,
                    "remember": bool(form.remember.data),
                    "next": next_url,
                    "until": time.time() + SECOND_FACTOR_SECONDS,
                }
                return redirect(url_for("auth.second_factor"), 303)
            await start_sign_in(user, remember=bool(form.remember.data))
            await flash(f"Welcome back, {user.username}.", "success")
            return redirect(next_url)
    status = 400 if (form.errors or form.form_errors) else 200
    return await render_template(
        "auth/login.html",
        form=form,
        next_url=request.args.get("next"),
        inactive_email=inactive_email,
    ), status


@bp.route("/login/code", methods=["GET", "POST"])
@rate_limited("sign-ins-by-address", "sign-ins-by-account", counted_in_view=True)
async def second_factor() -> ResponseReturnValue:
    """The second half of a sign-in with two-factor on: a code of the app, or a
    recovery code. Counted against the same limits as the password."""
    held = session.get(SECOND_FACTOR_KEY)
    pending: dict[str, Any] = held if isinstance(held, dict) else {}
    use = resources()
    user = None
    if pending.get("until", 0) > time.time():
        user = await use.db.get(User, int(pending["user_id"]))
    if user is None or not user.has_two_factor or not user.is_active:
        session.pop(SECOND_FACTOR_KEY, None)
        await flash("Sign in again: the code must follow the password within five minutes.", "info")
        return redirect(url_for("auth.login"), 303)
    error: str | None = None
    if request.method == "POST":
        await count_attempt("sign-ins-by-address")
        await count_guess_on_account(user)
        try:
            await two_factor.check_code(use.db, user, (await request.form).get("code", ""))
        except InvalidInput as refusal:
            error = refusal.message
        else:
            session.pop(SECOND_FACTOR_KEY, None)
            await start_sign_in(user, remember=bool(pending["remember"]))
            await flash(f"Welcome back, {user.username}.", "success")
            return redirect(safe_next(pending.get("next")), 303)
    return await render_template("auth/second_factor.html", error=error), 400 if error else 200


# The challenge of a passkey sign-in under way (one answer per challenge).
PASSKEY_SIGN_IN_KEY = "passkey_sign_in"


@bp.post("/login/passkey/options")
@rate_limited("passkey-challenges")
async def passkey_sign_in_options() -> ResponseReturnValue:
    """Step 1 of signing in with a passkey: options for ``navigator.credentials.get``."""
    ceremony = await passkeys.authentication_ceremony(relying_party())
    session[PASSKEY_SIGN_IN_KEY] = passkeys.bytes_to_base64url(ceremony.challenge)
    return Response(ceremony.options_json, content_type="application/json")


@bp.post("/login/passkey")
@rate_limited("sign-ins-by-address", counted_in_view=True)
async def passkey_sign_in() -> ResponseReturnValue:
    """Step 2: the signed challenge. A passkey verified on its device is both
    factors, so no authenticator-app code is asked. Answers JSON: where to go."""
    await count_attempt("sign-ins-by-address")
    body = await request.get_json(silent=True)
    challenge = session.pop(PASSKEY_SIGN_IN_KEY, None)
    if not isinstance(challenge, str) or not isinstance(body, dict):
        raise InvalidInput("Start again: ask for new options first.", field="credential")
    user = await passkeys.authenticate(
        resources().db,
        relying_party(),
        passkeys.base64url_to_bytes(challenge),
        body.get("credential"),
    )
    await start_sign_in(user, remember=bool(body.get("remember")))
    await flash(f"Welcome back, {user.username}.", "success")
    next_url = body.get("next")
    return jsonify({"redirect": safe_next(next_url if isinstance(next_url, str) else None)})


@bp.post("/logout")
@rate_limit_exempt("ends the caller's own session; repeating it changes nothing")
async def logout() -> ResponseReturnValue:
    auth = session_user()
    if auth.auth_id is not None:
        await resources().sign_ins.delete(auth.auth_id)
    logout_user()
    session.clear()
    session.regenerate()  # type: ignore[attr-defined]
    await flash("You are signed out.", "info")
    return redirect(url_for("main.index"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@rate_limited("reset-mails-by-address", "reset-mails-by-email", counted_in_view=True)
async def forgot_password() -> ResponseReturnValue:
    return await mail_request_page(
        template="auth/forgot.html",
        by_address="reset-mails-by-address",
        by_email="reset-mails-by-email",
        send=accounts.request_password_reset,
        confirmation="If an account uses {email}, a link to reset its password is on its "
        "way. It works once, within an hour.",
    )


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@rate_limit_exempt(
    "needs a valid single-use token from a reset mail, and those mails are rate-limited"
)
async def reset_password(token: str) -> ResponseReturnValue:
    use = resources()
    redis = use.redis
    if not await accounts.reset_token_is_valid(redis, token):
        await flash(
            "That password reset link is not valid: it was used already or it expired. "
            "Ask for a new one.",
            "danger",
        )
        return redirect(url_for("auth.forgot_password"))
    form = await posted_form(ResetPasswordForm)
    if request.method == "POST" and form.validate():
        try:
            user = await accounts.reset_password(
                use.db, redis, use.sign_ins, token, form.password.data or ""
            )
        except accounts.AccountError as error:
            show_account_error(form, error)
        else:
            if user is None:
                await flash("That password reset link was used a moment ago.", "danger")
                return redirect(url_for("auth.forgot_password"))
            # Every session of the account ended, this browser's too.
            auth = session_user()
            if auth.auth_id is not None:
                logout_user()
            session.regenerate()  # type: ignore[attr-defined]
            await flash(
                "Your password is changed and every session is signed out. Sign in.", "success"
            )
            return redirect(url_for("auth.login"))
    status = 400 if form.errors else 200
    return await render_template("auth/reset.html", form=form, token=token), status


@bp.route("/account", methods=["GET", "POST"])
@rate_limit_exempt(
    "the signed-in account's own password form (its current-password check is not "
    "throttled yet: a stolen session could guess it)"
)
async def account() -> ResponseReturnValue:
    """The signed-in user's page: change the password, see and end sessions."""
    use = resources()
    user = require_user()
    auth = session_user()
    form = await posted_form(ChangePasswordForm)
    if request.method == "POST" and form.validate():
        try:
            ended = await accounts.change_password(
                use.db,
                use.sign_ins,
                user,
                current_password=form.current_password.data or "",
                new_password=form.new_password.data or "",
                keep_sign_in_token=auth.auth_id,
            )
        except accounts.AccountError as error:
            show_account_error(form, error)
        else:
            others = (
                f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
            )
            await flash(f"Your password is changed.{others}", "success")
            return redirect(url_for("auth.account"))
    sign_ins = await use.sign_ins.list_for_user(user.id)
    current_id = auth.sign_in.public_id if auth.sign_in else None
    status = 400 if (form.errors or form.form_errors) else 200
    return await render_template(
        "auth/account.html",
        form=form,
        sign_ins=sign_ins,
        current_id=current_id,
        # Turning public accepts them all: the privacy switch says how many first.
        pending_requests=await privacy.pending_count(use.db, user.id) if user.is_private else 0,
        pending_email=await email_change.pending_change(use.redis, user),
    ), status


@bp.post("/account/sensitive")
@rate_limit_exempt("a switch on the caller's own account; setting it again changes nothing")
async def sensitive_setting() -> ResponseReturnValue:
    """The account page's "Always show sensitive photos" switch (locked accounts too)."""
    user = require_user()
    show = (await request.form).get("show_sensitive") == "1"
    await users.set_show_sensitive(resources().db, user, show=show)
    await flash(
        "Sensitive photos are shown unblurred." if show else "Sensitive photos are blurred.",
        "success",
    )
    return redirect(url_for("auth.account"))


@bp.post("/account/privacy")
@rate_limit_exempt("a switch on the caller's own account; setting it again changes nothing")
async def privacy_setting() -> ResponseReturnValue:
    """The account page's private-account switch (locked accounts too: it only hides)."""
    use = resources()
    private = (await request.form).get("private") == "1"
    accepted = await privacy.set_private(use.db, use.redis, user=require_user(), private=private)
    if private:
        message = (
            "Your account is private: new followers must ask, and only your followers "
            "see your photos."
        )
    else:
        accepted_words = (
            f" The {accepted} pending follow request{'s' if accepted != 1 else ''} "
            f"{'were' if accepted != 1 else 'was'} accepted."
            if accepted
            else ""
        )
        message = f"Your account is public: anyone sees your public photos.{accepted_words}"
    await flash(message, "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/email")
@rate_limited("email-changes")
async def change_email() -> ResponseReturnValue:
    """Ask for a new address: a link goes there; the account keeps the old one until
    it is opened (locked accounts too: an address is how the moderators reach them)."""
    use = resources()
    user = require_user()
    form = await request.form
    try:
        email = await email_change.request_change(
            use.db,
            use.redis,
            use.mailer,
            user,
            new_email=form.get("email", ""),
            password=form.get("password", ""),
        )
    except accounts.AccountError as error:
        await flash(error.message, "danger")
    else:
        await flash(
            f"A link is on its way to {email}: open it to use that address. "
            f"Until then {user.email} stays.",
            "info",
        )
    return redirect(url_for("auth.account"), 303)


@bp.post("/account/username")
@permission_required()  # a locked account keeps the name the moderators know
@rate_limited("username-changes")
async def change_username() -> ResponseReturnValue:
    """A new username; the old one leads to the new profile and stays reserved a while."""
    use = resources()
    user = require_user()
    form = await request.form
    try:
        old = await usernames.rename(
            use.db,
            use.redis,
            user,
            new_username=form.get("username", ""),
            password=form.get("password", ""),
        )
    except accounts.AccountError as error:
        await flash(error.message, "danger")
    else:
        await flash(
            f"You are {user.username} now. For {usernames.RESERVED_DAYS} days /u/{old} leads "
            "here, and nobody else can take that name.",
            "success",
        )
    return redirect(url_for("auth.account"), 303)


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
@rate_limit_exempt("the token is random and works once")
async def confirm_email(token: str) -> ResponseReturnValue:
    use = resources()
    if request.method == "POST":
        try:
            user = await email_change.confirm_change(use.db, use.redis, use.mailer, token)
        except accounts.AccountError as error:
            await flash(error.message, "danger")
            return redirect(url_for("main.index"), 303)
        if user is not None:
            await flash(f"Your e-mail address is now {user.email}.", "success")
            return redirect(url_for("main.index"), 303)
    address = await email_change.change_awaiting(use.redis, token)
    return await render_template(
        "auth/email_link.html",
        heading="Confirm your new address",
        address=address,
        explanation=f"Use {address} for your Gallery account from now on.",
        button="Use this address",
    ), 200 if address else 404


@bp.route("/email/undo/<token>", methods=["GET", "POST"])
@rate_limit_exempt("the token is random and works once")
async def undo_email_change(token: str) -> ResponseReturnValue:
    use = resources()
    if request.method == "POST":
        try:
            user = await email_change.undo_change(use.db, use.redis, use.sign_ins, token)
        except accounts.AccountError as error:
            await flash(error.message, "danger")
            return redirect(url_for("main.index"), 303)
        if user is not None:
            logout_user()
            session.clear()
            await flash(
                f"Your address is {user.email} again, and every session is signed out. "
                "Choose a new password now.",
                "success",
            )
            return redirect(url_for("auth.forgot_password"), 303)
    address = await email_change.change_to_undo(use.redis, token)
    return await render_template(
        "auth/email_link.html",
        heading="Take the e-mail change back",
        address=address,
        explanation=f"Bring back {address} as your account's address and sign out every "
        "session of the account, in case someone else made the change.",
        button="Take it back and sign everyone out",
    ), 200 if address else 404


@bp.post("/account/sessions/<public_id>/revoke")
@rate_limit_exempt("ends one of the caller's own sessions")
async def revoke_session(public_id: str) -> ResponseReturnValue:
    user = require_user()
    if await resources().sign_ins.revoke(user.id, public_id):
        await flash("That session is signed out.", "success")
    else:
        await flash("That session had ended already.", "info")
    return redirect(url_for("auth.account"))
