"""The one exception family the CLI maps to exit codes."""


class VerifyError(Exception):
    """Anything verify can explain in one line; the CLI prints it without a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(VerifyError):
    """Bad arguments or unreadable stack outputs: exit 2."""

    exit_code = 2


class TransportError(VerifyError):
    """A host could not run a command: unreachable, key refused, unknown host key, timed out."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason, hint)
        self.reason = reason
