"""The one exception hierarchy of aframe-tune.

Every error a user can cause is raised as a subclass of :class:`AframeTuneError` with a message
that names the file and key at fault and says how to fix it. Entry points print the message
alone (no traceback) and exit non-zero.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class AframeTuneError(Exception):
    """Base class of every error aframe-tune raises on purpose."""


class ConfigError(AframeTuneError):
    """A configuration file, option or environment variable is missing or invalid.

    Args:
        message: what is wrong and how to fix it, naming the file and key.
        key: ``FILE::dotted.key`` at fault, where known; a second problem reported for the same
            key (by another check of the same input) is dropped by :class:`Problems`.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class InvalidInputsError(ConfigError):
    """Several inputs are invalid; each problem is one line of the message.

    Args:
        problems: one message per problem, each naming its file and key.
    """

    def __init__(self, problems: list[ConfigError]) -> None:
        self.problems = list(problems)
        lines = [str(problem) for problem in self.problems]
        if len(lines) == 1:
            message = lines[0]
        else:
            listed = "\n".join(f"  - {line}" for line in lines)
            message = f"{len(lines)} problems were found before anything started:\n{listed}"
        super().__init__(message)


class RunDirectoryBusyError(AframeTuneError):
    """Another process is already tuning into this run directory."""


class ScaffoldError(AframeTuneError):
    """``aframe-init`` cannot write the experiment directory."""


class TuningError(AframeTuneError):
    """The Ray Tune search itself failed or produced no usable result."""


class NotYetSupportedError(AframeTuneError):
    """A requested capability exists in the design but is not built yet."""


class Problems:
    """Collects the problems of several independent checks, to report them all at once.

    A researcher who mistyped three things should learn of all three from one run, not from
    three runs. Checks that depend on an earlier one (a file that must parse before its keys
    are checked) run inside the same ``check()`` block as it.
    """

    def __init__(self) -> None:
        self.found: list[ConfigError] = []

    def add(self, problem: ConfigError) -> None:
        """Record ``problem`` unless one for the same key is recorded already."""
        if problem.key is None or all(problem.key != earlier.key for earlier in self.found):
            self.found.append(problem)

    @contextmanager
    def check(self) -> Iterator[None]:
        """Record a :class:`ConfigError` raised in the block instead of letting it through."""
        try:
            yield
        except InvalidInputsError as error:
            for problem in error.problems:
                self.add(problem)
        except ConfigError as error:
            self.add(error)

    def result(self, check: Callable[[], T]) -> T | None:
        """``check()``'s value, or ``None`` with the problem it raised recorded."""
        with self.check():
            return check()
        return None

    def raise_if_any(self) -> None:
        if self.found:
            raise InvalidInputsError(self.found)


def did_you_mean(name: str, candidates: Iterable[str], limit: int = 3) -> str:
    """``"; did you mean a or b?"`` for the candidates closest to ``name``, else ``""``."""
    # compared without case, so that CsvLogger finds CSVLogger first
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=limit, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(by_lower[match] for match in close) + "?"
