"""gunicorn's logger with Hindsight's redaction (`logger_class` in deploy/gunicorn.conf.py).

gunicorn logs through its own handlers, not ours: its access lines hold whole URLs (`?token=`,
a feedback link's `t=`) and any request header an `access_log_format` names, and its error lines
quote the URL of a request that failed. Every line of both logs passes `hindsight.logs.redact`
(the secrets are the ones the app gave `configure_logging` when the worker created it), and the
values of credential headers (Authorization, Cookie, any header whose name holds auth, token,
key, secret, signature or password) are never written, configured or not.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

from hindsight.logs import REDACTED, RedactingFilter

# A request (`{name}i`) or response (`{name}o`) header atom whose value is a credential.
_CREDENTIAL_HEADER = re.compile(
    r"\{[^}]*(auth|cookie|token|key|secret|signature|password)[^}]*\}[io]$"
)


class RedactingLogger(Logger):
    """gunicorn's `Logger`: same files and formats, nothing secret in them."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        found = super().atoms(resp, req, environ, request_time)
        return {
            name: REDACTED if _CREDENTIAL_HEADER.match(name) else value
            for name, value in found.items()
        }
