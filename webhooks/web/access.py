"""Access to the pages and the API: a token or a trusted proxy header.

The pages take the token from `Authorization: Bearer`, the cookie, or `?token=` once (answered
with the cookie and a redirect to the same address without it, so it leaves the address bar,
history and Referer). The JSON API takes it only from `Authorization: Bearer` (or the cookie a
page set): a token in an API URL would sit in every client's and proxy's logs, so it is refused.

Readers only GET, except the feedback form, whose signed token is its own authorisation (people
follow it from Jira without a web token). Curation forms need an editor (`editor`), a same-site
request and the session's CSRF token (`webhooks.web.forms`). Every response carries a strict
Content-Security-Policy: no script runs on these pages at all.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

from flask import Response, abort, redirect, request

from webhooks.web.context import AccessRules

COOKIE = "hindsight_token"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def presented_token(*, api: bool) -> str | None:
    """The token this request carries; `?token=` counts only on a page."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE) or (None if api else request.args.get("token"))


def _matches(token: str | None, known: tuple[str, ...]) -> int | None:
    """The position of `token` among `known` (every one compared, in constant time)."""
    found = None
    for position, value in enumerate(known):
        if token and hmac.compare_digest(token.encode(), value.encode()):
            found = position
    return found


def allowed(rules: AccessRules, *, api: bool) -> bool:
    if rules.open:
        return True
    if rules.user_header and request.headers.get(rules.user_header, "").strip():
        return True
    return _matches(presented_token(api=api), rules.tokens + rules.editor_tokens) is not None


def editor(rules: AccessRules) -> str | None:
    """The editor making this request (their name, as recorded in revisions), or None.

    An editor is a user the authenticating proxy names who is in `editors`, or the holder
    of an editor token (from `Authorization: Bearer` or the cookie, never from the URL).
    """
    if rules.user_header and rules.editors:
        user = request.headers.get(rules.user_header, "").strip()
        if user and user in rules.editors:
            return user
    position = _matches(presented_token(api=True), rules.editor_tokens)
    if position is not None:
        return "editor token" + (f" {position + 1}" if len(rules.editor_tokens) > 1 else "")
    return None


def editor_refusal(rules: AccessRules) -> str:
    """Why this request may not edit, and what to do about it (the 403's text)."""
    if not rules.editing_enabled:
        return (
            "editing is switched off: an administrator sets HINDSIGHT_EDITOR_TOKEN or "
            "HINDSIGHT_EDITORS (with HINDSIGHT_WEB_USER_HEADER) to allow it"
        )
    user = request.headers.get(rules.user_header, "").strip() if rules.user_header else ""
    if user and rules.editors:
        return f"{user} may read but not edit: ask an administrator to add you to HINDSIGHT_EDITORS"
    return "editing needs an editor: open any page once with ?token=<editor token>"


def check_access(rules: AccessRules, *, api: bool) -> Response | None:
    """None to let the request through; a 401 (or a redirect that drops ?token=) otherwise."""
    if not allowed(rules, api=api):
        if api and "token" in request.args:
            abort(401, "the API takes no ?token=: send Authorization: Bearer <token> instead")
        if api:
            abort(401, "send Authorization: Bearer <token> (a web_token setting)")
        abort(401, "open this page with ?token=<token> once; a cookie remembers it")
    if "token" in request.args and not api:
        # Move the token into a cookie and out of the address bar, history and Referer.
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
        response = redirect(request.path + (f"?{urlencode(rest)}" if rest else ""))
        response.set_cookie(
            COOKIE,
            request.args["token"],
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
        return response
    return None


def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # feedback links carry tokens
    response.headers["X-Frame-Options"] = "DENY"
    return response
