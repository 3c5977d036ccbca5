"""The sign-in page (password, emailed 6-digit code, new account) and signing out.

Shown instead of any page while nobody is signed in to a Supabase-backed app. The page the person
asked for (a shared deep link, say) keeps its URL, so it opens once they are signed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from mimio_core.auth import SignInError, UserSession
from mimio_core.ui.text import plain

log = logging.getLogger(__name__)
CODE_EMAIL = "sign-in-code-email"  # set once a code was sent: the form then asks for the code
SIGNED_UP = "sign-in-signed-up"  # the address of an account just created that awaits its code


def _attempt(action: str, call: Callable[[], object]) -> bool:
    """Run a sign-in call; False, with the reason shown, when it did not work."""
    try:
        call()
    except SignInError as refused:
        st.error(plain(str(refused)), icon=":material/lock:")
        return False
    except Exception:  # an unexpected answer: say what failed, keep the details in the log
        log.exception("could not %s", action)
        st.error(
            f"Could not {action}: the sign-in service gave an unexpected answer.", icon=":material/error:"
        )
        return False
    return True


def _password_form(session: UserSession) -> None:
    with st.form("sign-in-password"):
        email = st.text_input("Email", key="sign-in-email", autocomplete="email")
        password = st.text_input("Password", type="password", key="sign-in-password-value")
        if st.form_submit_button("Sign in", type="primary", icon=":material/login:") and _attempt(
            "sign in", lambda: session.sign_in_with_password(email, password)
        ):
            st.rerun()
    st.caption("Forgot your password? Sign in with a code under **Email code**.")


def _code_form(session: UserSession) -> None:
    email = st.session_state.get(CODE_EMAIL)
    if email is None:
        with st.form("sign-in-send-code"):
            st.caption("We email you a 6-digit code; enter it here, in this browser tab.")
            typed = st.text_input("Email", key="sign-in-code-address", autocomplete="email")
            if st.form_submit_button("Email me a code", icon=":material/mail:") and _attempt(
                "send a code", lambda: session.send_code(typed)
            ):
                st.session_state[CODE_EMAIL] = typed.strip()
                st.rerun()
        return
    if st.session_state.get(SIGNED_UP) == email:
        st.success(
            "Account created. We emailed you to confirm the address: enter the code from that email "
            "here, or follow its link and then sign in with your password.",
            icon=":material/mark_email_read:",
        )
    with st.form("sign-in-verify-code"):
        st.caption(f"We sent a 6-digit code to **{plain(email)}**. It works in this tab only.")
        code = st.text_input("Code", key="sign-in-code", max_chars=10, placeholder="123456")
        if st.form_submit_button("Sign in", type="primary", icon=":material/login:") and _attempt(
            "sign in", lambda: session.verify_code(email, code)
        ):
            st.session_state.pop(CODE_EMAIL, None)
            st.rerun()
    st.button(
        "Use another email", on_click=lambda: st.session_state.pop(CODE_EMAIL, None), key="sign-in-restart"
    )


def _new_account_form(session: UserSession) -> None:
    with st.form("sign-up"):
        email = st.text_input("Email", key="sign-up-email", autocomplete="email")
        password = st.text_input("Password", type="password", key="sign-up-password")
        again = st.text_input("Password again", type="password", key="sign-up-password-again")
        if not st.form_submit_button("Create account", icon=":material/person_add:"):
            return
    if password != again:
        st.error("The two passwords differ.", icon=":material/lock:")
        return
    created: list[object] = []
    if _attempt("create the account", lambda: created.append(session.sign_up(email, password))):
        if created[0] is None:  # the project confirms addresses: the code form asks for the code
            st.session_state[CODE_EMAIL] = email.strip()
            st.session_state[SIGNED_UP] = email.strip()
        st.rerun()


def sign_in_page(session: UserSession) -> None:
    """Sign in with a password or an emailed code, or create an account."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(":material/movie: Mimio")
        st.caption("Sign in to make, follow and find your videos.")
        # once a code is on its way (asked for, or a sign-up awaiting confirmation), its tab is open
        waiting = "Email code" if CODE_EMAIL in st.session_state else None
        password, code, new = st.tabs(["Password", "Email code", "New account"], default=waiting)
        with password:
            _password_form(session)
        with code:
            _code_form(session)
        with new:
            _new_account_form(session)


def account_menu(session: UserSession, email: str) -> None:
    """The sidebar's account line: who is signed in, Sign out, and a new password."""
    st.caption(f":material/person: {plain(email)}")
    buttons = st.container(horizontal=True)
    buttons.button("Sign out", key="sign-out", on_click=sign_out, args=(session,), icon=":material/logout:")
    with buttons.popover("Password", icon=":material/password:"), st.form("change-password", border=False):
        password = st.text_input("New password", type="password", key="new-password")
        again = st.text_input("New password again", type="password", key="new-password-again")
        if not st.form_submit_button("Change password"):
            return
        if password != again:
            st.error("The two passwords differ.", icon=":material/lock:")
        elif _attempt("change the password", lambda: session.change_password(password)):
            st.success("Password changed.", icon=":material/check:")


def sign_out(session: UserSession) -> None:
    """Sign out on this device, and forget everything this browser session held for that person
    (forms, runs, the active project, the session itself), so whoever signs in next starts clean."""
    session.sign_out()
    for key in list(st.session_state):
        del st.session_state[key]
