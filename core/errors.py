"""Errors the CLI turns into one clear line and an exit code (never a traceback)."""


class BenchError(Exception):
    """A problem the user can fix. ``exit_code`` 2 = bad input, 1 = a run failed."""

    exit_code = 2


class BadInput(BenchError):
    exit_code = 2


class RunFailed(BenchError):
    exit_code = 1


class NotBuilt(BadInput):
    """The registry names a trainer, suite or model kind this version cannot run yet."""
