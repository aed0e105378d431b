"""jsonargparse's errors, as one line that names the key.

lightray and LightningCLI parse tune.yaml and train.yaml with jsonargparse, whose errors list
every member of a type union and every class it tried. A physicist needs the key, what is
wrong with it and the closest valid names. jsonargparse has no structured errors, so this
module reads its messages (the patterns are covered by tests against the installed version).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass

from aframe_tune.errors import did_you_mean

_TYPE_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text",
               "NoneType": "null", "list": "a list", "dict": "a mapping", "tuple": "a list"}


@dataclass(frozen=True)
class ParserProblem:
    """What jsonargparse rejected.

    Args:
        key: the dotted key at fault, or None where jsonargparse did not say.
        text: what is wrong, in words, without the key.
        unknown: whether the key itself is unknown (rather than its value wrong).
    """

    key: str | None
    text: str
    unknown: bool = False


def _type_words(names: Iterable[str]) -> str:
    words = [_TYPE_WORDS.get(name, name.rsplit(".", 1)[-1]) for name in names]
    return " or ".join(dict.fromkeys(words))


def _class_options(class_path: str) -> list[str]:
    try:
        module, _, name = class_path.rpartition(".")
        signature = inspect.signature(getattr(importlib.import_module(module), name))
    except (ImportError, AttributeError, ValueError, TypeError):
        return []
    return [p for p in signature.parameters if p not in ("self", "args", "kwargs")]


def _import_problem(class_path: str, reason: str) -> str:
    module, _, name = class_path.rpartition(".")
    hint = ""
    attribute = re.search(r"has no attribute '([^']+)'", reason)
    if attribute:
        try:
            members = vars(importlib.import_module(module))
            hint = did_you_mean(name, [n for n, v in members.items() if isinstance(v, type) and not n.startswith("_")])
        except ImportError:
            pass
    return f"class_path {class_path} cannot be imported ({reason.strip()}){hint}"


def read_parser_error(message: str, known_keys: Iterable[str] = ()) -> ParserProblem:
    """Turn a jsonargparse ``ArgumentError`` message into a :class:`ParserProblem`.

    Args:
        message: ``str()`` of the error.
        known_keys: the parser's valid keys, for suggestions when a key is unknown.
    """
    known = list(known_keys)
    group = re.match(r"Group '([^']+)' does not accept option '([^']+)'", message)
    if group:
        parent, option = group.groups()
        siblings = [k.removeprefix(parent + ".") for k in known if k.startswith(parent + ".")]
        return ParserProblem(f"{parent}.{option}", f"is not an option{did_you_mean(option, siblings)}", True)
    unrecognized = re.match(r"unrecognized arguments: --([^=\s]+)", message)
    top = re.match(r"Option '([^']+)' is not accepted", message)
    if unrecognized or top:
        key = (unrecognized or top).group(1)
        return ParserProblem(key, f"is not an option{did_you_mean(key, known)}", True)

    keys = re.findall(r'Parser key "([^"]+)"', message)
    key = ".".join(keys) if keys else None
    class_problem = re.search(r"Problem with given class_path '([^']+)':\n\s*(.+)", message)
    if class_problem:
        class_path, reason = class_problem.groups()
        option = re.match(r"Option '([^']+)' is not accepted", reason)
        if option:
            name = option.group(1)
            return ParserProblem(f"{key}.init_args.{name}" if key else name,
                                 f"is not an option of {class_path}{did_you_mean(name, _class_options(class_path))}",
                                 True)
        if re.search(r'Parser key "[^"]+":', message[class_problem.start():]):
            return ParserProblem(key, _expected(message))  # an option of the class has a wrong value
        if "import" in reason.lower() or "has no attribute" in reason or "No module named" in reason:
            return ParserProblem(key, _import_problem(class_path, reason))
        return ParserProblem(key, f"{class_path}: {reason.strip()}")
    return ParserProblem(key, _expected(message))


def _expected(message: str) -> str:
    """'expected a whole number, got 'six'' from the Expected/Got lines of a type error."""
    expected = [name for name in re.findall(r"Expected a <class '([^']+)'>", message)]
    if not expected:
        lines = [line.strip(" -") for line in message.splitlines() if line.strip()]
        return "; ".join(lines[1:3] or lines[:1])
    got = re.search(r"(?:Got value|Given value): (.+)", message)
    value = f", got {got.group(1).strip()!r}" if got else ""
    return f"must be {_type_words(expected)}{value}"
