"""One exception root with named subclasses; only the CLI turns them into exit codes."""


class NtpError(Exception):
    """Root of every error ntpverify raises on purpose."""

    exit_code = 3


class BadInput(NtpError):
    """A case file (or command-line value) that is malformed.

    ``where`` names the file and ``place`` the position inside it (``contexts[2].next.b``);
    the message says what value broke which rule.
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str = "", place: str = "", line: int | None = None):
        self.message = message
        self.where = where
        self.place = place
        self.line = line
        super().__init__(self.render())

    def render(self) -> str:
        head = self.where or "input"
        if self.place:
            head += f": {self.place}"
        if self.line is not None:
            head += f" (line {self.line})"
        return f"{head}: {self.message}"


class BadCertificate(NtpError):
    """A certificate file that cannot be read as a certificate at all."""

    exit_code = 2


class NoConvergence(NtpError):
    """A numeric producer did not reach what it promised; nothing was reported as checked."""

    exit_code = 3


class InternalError(NtpError):
    """Something that should not happen: a producer's answer failed its own exact check."""

    exit_code = 3
