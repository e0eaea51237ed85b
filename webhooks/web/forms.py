"""Forms that change things: same-site requests carrying the session's CSRF token only.

No script runs on these pages, so protection is plain HTML and headers: every form carries a
hidden `csrf` field equal to a random per-session cookie (HttpOnly, SameSite=Strict, `__Host-`
over HTTPS, so another site can neither read nor plant it); a POST is refused unless the two
match, and also when the browser says it comes from elsewhere: `Sec-Fetch-Site` other than
same-origin/none or, from a browser that does not send it, an `Origin` that is not this site's.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, request

from kb.text import NUL
from webhooks.request_body import read_body
from webhooks.web.context import AccessRules

FIELD = "csrf"
_COOKIE = "hindsight_csrf"
_SECURE_COOKIE = "__Host-hindsight_csrf"
# A lesson's text is at most 20,000 characters (kb.curation): up to 80 KB of UTF-8, encoded.
FORM_BODY_LIMIT = 256 * 1024


def _cookie_name() -> str:
    return _SECURE_COOKIE if request.is_secure else _COOKIE


def csrf_token() -> str:
    """This session's token, for a form's hidden field (a new session gets one)."""
    token = request.cookies.get(_cookie_name()) or g.get("new_csrf")
    if not token:
        token = g.new_csrf = secrets.token_urlsafe(32)
    return token


def set_csrf_cookie(response: Response) -> Response:
    """Send the token cookie when this response created the session's token."""
    token = g.get("new_csrf")
    if token:
        response.set_cookie(
            _cookie_name(),
            token,
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
            path="/",
        )
    return response


def cross_site_reason(rules: AccessRules) -> str | None:
    """Why this POST looks cross-site, or None when it is the site's own form."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        # The browser's own word, which no page can set. It decides alone: under this site's
        # `Referrer-Policy: no-referrer` Chromium sends `Origin: null` even on its own forms.
        if fetch_site not in {"same-origin", "none"}:
            return f"a form posted from another site ({fetch_site}) is refused"
        return None
    origin = request.headers.get("Origin")
    if origin is not None:
        own = {request.host.lower()} | {urlsplit(o).netloc.lower() for o in rules.allowed_origins}
        if origin == "null" or urlsplit(origin).netloc.lower() not in own:
            return "a form posted from another origin is refused"
    return None


def check_form(rules: AccessRules) -> dict[str, str]:
    """The posted form's fields, once the request is shown to be this site's own form; 403
    naming the reason otherwise (and 413 past FORM_BODY_LIMIT)."""
    reason = cross_site_reason(rules)
    if reason:
        abort(403, reason)
    read_body(FORM_BODY_LIMIT)  # 413 past it; request.form parses these cached bytes
    posted = request.form.get(FIELD, "")
    expected = request.cookies.get(_cookie_name(), "")
    if not (expected and posted and hmac.compare_digest(posted.encode(), expected.encode())):
        abort(
            403, "the form expired or did not come from this site: reload the page and submit again"
        )
    fields = {key: request.form.get(key, "") for key in request.form if key != FIELD}
    for key, value in fields.items():
        if NUL in key or NUL in value:
            # No stored text may hold one (PostgreSQL refuses it); the editor's text is theirs
            # to fix, not ours to change silently.
            abort(400, f"the field {key.replace(NUL, '')[:40]!r} holds a NUL character; remove it")
    return fields


def install_forms(app: Flask) -> None:
    """Make `csrf_token()` available to every template, and send its cookie when new."""
    app.add_template_global(csrf_token, "csrf_token")
    app.after_request(set_csrf_cookie)
