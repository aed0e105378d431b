"""Label and field selectors with the real API server's grammar and matching rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EXISTS = re.compile(rf"^\s*(?P<neg>!)?\s*(?P<key>{_KEY})\s*$")
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*$")
_COMPARE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=|>|<)\s*(?P<value>{_VALUE})\s*$")


class SelectorError(ValueError):
    """A selector the real server would reject with 400 BadRequest."""


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector."""

    key: str
    op: str  # exists, !, =, !=, in, notin, >, <
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            # Like the real server: a missing label satisfies != and notin.
            return not present or value not in self.values
        # > and < compare integers; a non-integer label never matches.
        try:
            number = int(value) if value is not None else None
        except ValueError:
            return False
        if number is None:
            return False
        bound = int(self.values[0])
        return number > bound if self.op == ">" else number < bound


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse ``a=b,c!=d,e in (f,g),!h,i`` into requirements (all must hold)."""
    if not text or not text.strip():
        return []
    requirements = []
    for part in _split_top_level(text):
        if not part.strip():
            raise SelectorError(f"unable to parse requirement: empty clause in {text!r}")
        if match := _SET.match(part):
            values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(match["key"], match["op"], values))
        elif match := _COMPARE.match(part):
            op = "=" if match["op"] == "==" else match["op"]
            if op in (">", "<") and not re.fullmatch(r"-?\d+", match["value"] or ""):
                raise SelectorError(f"unable to parse requirement: {part.strip()!r}: value must be an integer")
            requirements.append(Requirement(match["key"], op, (match["value"] or "",)))
        elif match := _EXISTS.match(part):
            requirements.append(Requirement(match["key"], "!" if match["neg"] else "exists"))
        else:
            raise SelectorError(f"unable to parse requirement: {part.strip()!r}")
    return requirements


def label_matcher(text: str | Mapping[str, str] | None) -> Callable[[dict[str, Any]], bool]:
    """A predicate on objects for a label selector string (or an equality dict)."""
    if isinstance(text, Mapping):
        text = ",".join(f"{k}={v}" for k, v in text.items())
    requirements = parse_label_selector(text)

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in requirements)

    return match


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def field_value(obj: dict[str, Any], path: str) -> str:
    """The string form of a dotted field, as the server compares it ("" when absent)."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return ""
        current = current[part]
    if isinstance(current, bool):
        return "true" if current else "false"
    return "" if current is None else str(current)


def field_matcher(
    text: str | Mapping[str, str] | None, allowed: tuple[str, ...] = ()
) -> Callable[[dict[str, Any]], bool]:
    """A predicate for a field selector (``metadata.name=x,status.phase!=Running``).

    Only ``metadata.name``, ``metadata.namespace`` and the type's ``allowed`` fields are
    accepted, like the real server ("field label not supported").
    """
    if isinstance(text, Mapping):
        text = ",".join(f"{k}={v}" for k, v in text.items())
    clauses: list[tuple[str, bool, str]] = []
    for part in re.split(r"(?<!\\),", text or ""):
        if not part.strip():
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*", part)
        if not match:
            raise SelectorError(f"invalid selector: {part!r}; can't understand {part!r}")
        key, op, value = match.groups()
        if key not in ("metadata.name", "metadata.namespace", *allowed):
            raise SelectorError(f'field label not supported: {key}')
        clauses.append((key, op == "!=", _unescape(value)))

    def match_fields(obj: dict[str, Any]) -> bool:
        return all((field_value(obj, key) == value) != negate for key, negate, value in clauses)

    return match_fields
