"""WTForms forms of the account pages (CSRF is checked for every request in ``security``)."""

from __future__ import annotations

from typing import TypeVar

from quart import request
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, EmailField, Form, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, Regexp

from gallery.services.accounts import (
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    USERNAME_PATTERN,
    AccountError,
)

FormT = TypeVar("FormT", bound=Form)

PASSWORD_RULES = [
    InputRequired("Choose a password."),
    Length(
        min=PASSWORD_MIN_LENGTH,
        max=PASSWORD_MAX_LENGTH,
        message=f"Passwords need {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters.",
    ),
]


async def posted_form(form_class: type[FormT]) -> FormT:
    """The form filled from the request body (empty on GET)."""
    if request.method == "POST":
        return form_class(MultiDict(await request.form))
    return form_class()


def show_account_error(form: Form, error: AccountError) -> None:
    """Put a service's refusal under the field it concerns (or at the top of the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


class RegisterForm(Form):
    username = StringField(
        "Username",
        [
            InputRequired("Choose a username."),
            Regexp(
                USERNAME_PATTERN,
                message="Usernames are 3–30 characters: letters, digits, “_”, “.” and “-”.",
            ),
        ],
    )
    email = EmailField("E-mail", [InputRequired("Enter your e-mail address."), Length(max=254)])
    password = PasswordField("Password", PASSWORD_RULES)
    password2 = PasswordField(
        "Repeat the password",
        [InputRequired("Repeat the password."), EqualTo("password", "The two passwords differ.")],
    )


class LoginForm(Form):
    login = StringField(
        "Username or e-mail", [InputRequired("Enter your username or e-mail."), Length(max=254)]
    )
    password = PasswordField(
        "Password", [InputRequired("Enter your password."), Length(max=PASSWORD_MAX_LENGTH)]
    )
    remember = BooleanField("Keep me signed in")


class EmailForm(Form):
    email = EmailField("E-mail", [InputRequired("Enter your e-mail address."), Length(max=254)])


class ResetPasswordForm(Form):
    password = PasswordField("New password", PASSWORD_RULES)
    password2 = PasswordField(
        "Repeat the new password",
        [InputRequired("Repeat the password."), EqualTo("password", "The two passwords differ.")],
    )


class ChangePasswordForm(Form):
    current_password = PasswordField(
        "Current password", [InputRequired("Enter your current password.")]
    )
    new_password = PasswordField("New password", PASSWORD_RULES)
    new_password2 = PasswordField(
        "Repeat the new password",
        [
            InputRequired("Repeat the new password."),
            EqualTo("new_password", "The two passwords differ."),
        ],
    )
