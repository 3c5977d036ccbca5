"""The one root of this app's errors, and a branch for each kind of problem a person can act on.

Every error raised on purpose derives from `MimioError` and carries a message fit to show as it is.
The dashboard's frame shows a `MimioError`'s message and catches anything else with a short
explanation (the traceback goes to the log). Branches keep the built-in base callers already catch
(`ValueError`, `OSError`), so `except ValueError` around a parse still works.
"""

from __future__ import annotations


class MimioError(Exception):
    """Something this app knows how to explain."""


class BadInput(MimioError, ValueError):
    """What a person gave (a prompt, a file, a batch row, a project name) cannot be used: fix it."""


class ConfigurationError(MimioError, ValueError):
    """A setting or the model catalogue cannot be used: the message names the key, file or line."""


class ProviderFailure(MimioError):
    """A video provider failed or refused (see `providers.base.ProviderError` and its kinds)."""


class StorageFailure(MimioError, OSError):
    """The database or the file storage failed or refused."""


class SignInFailure(MimioError):
    """Signing in, or the session, failed."""


class InternalError(MimioError, RuntimeError):
    """The app broke one of its own rules (a bug): the message says which."""
