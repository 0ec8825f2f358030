"""The one error type of the sandbox: a sentence for the user, printed on one line, never a traceback."""
from __future__ import annotations


class SandboxError(Exception):
    """Something the user can fix (server unreachable, credentials refused, patient missing). The message is
    shown as it is: it must never hold a token, a JWT or record data the user did not ask to see."""
