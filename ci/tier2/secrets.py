"""Which values are secret, and registering them with the masker before first use.

Declared secrets (``secret(...)`` in a service's tier3.py) are secret by
declaration; a key that only appears in a .env file is treated as secret when
its name looks like one, because a .env file has no way to say so. The pattern
is deliberately narrow (no ``AUTH``: ``DISABLE_VAULT_AUTH=true`` would mask
every "true" in the logs).
"""

from __future__ import annotations

import logging
import re

from ci.masking import masker

SECRET_NAME = re.compile(
    r"(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_KEY|"
    r"_KEY$|^KEY$|COOKIE|WEBHOOK|SIGNING|"
    r"(^|_)(PASS|PWD|PW|PAT|DSN|SALT|AUTH_KEY|SESSION_KEY)($|_))",
    re.IGNORECASE,
)
"""Word parts that name a secret: ``DB_PASS``, ``GITHUB_PAT`` and ``SENTRY_DSN`` match on
an ``_`` boundary so ``PASSTHROUGH`` or ``PATH`` do not."""


NOT_SECRET = frozenset({"PWD", "OLDPWD"})
"""The shell's working directories: ``PWD`` names a path, not a password."""


def looks_secret(name: str) -> bool:
    return name.upper() not in NOT_SECRET and bool(SECRET_NAME.search(name))


def register_secret(value: str) -> None:
    """Mask ``value`` in everything printed from now on (each line on its own, see ci.masking)."""
    masker.register(value)


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = masker.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_logging() -> None:
    """Pass every record of the root logger's handlers through the masker.

    nox logs through the root logger (at DEBUG); a library that logs a value
    after it was registered is masked here. Values logged *before* registration
    cannot be, which is why the AWS SDK's loggers are also kept quiet.
    """
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _Redact) for f in handler.filters):
            handler.addFilter(_Redact())
