"""CloudWatch Logs filter patterns, as FilterLogEvents matches them (moto 5.2.5 matches only plain terms).

Two syntaxes (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html):

- terms: ``ERROR``, ``"exact phrase"``, ``ERROR -DEBUG`` (all of these, none of those), ``?ERROR ?WARN``
  (any of these); case-sensitive, matched anywhere in the message;
- JSON: ``{ $.correlation_id = "abc" }``, with ``=``/``!=`` (strings, ``*`` a wildcard, or numbers),
  ``<``/``<=``/``>``/``>=`` (numbers), ``IS NULL``/``IS TRUE``/``IS FALSE``, ``NOT EXISTS``, ``&&``, ``||``
  (``&&`` binds tighter) and parentheses; a message that is not a JSON object never matches.

Space-delimited patterns (``[ip, user, ...]``) are not supported: they match every event, as moto does.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[str], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))"
    r'|(?P<string>"(?:[^"\\]|\\.)*")'
    r"|(?P<selector>\$(?:\.[A-Za-z0-9_@\-]+|\[\d+\])*)"
    r"|(?P<word>[^\s()=!<>&|\"]+))"
)
_MISSING = object()


class FilterPatternError(ValueError):
    """The pattern is not valid filter pattern syntax (CloudWatch answers InvalidParameterException)."""


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Matcher:
    text = pattern.strip()
    if not text:
        return lambda message: True
    if text.startswith("{"):
        if not text.endswith("}"):
            raise FilterPatternError(f"unbalanced braces in {pattern!r}")
        return _JsonParser(text[1:-1]).parse()
    if text.startswith("["):
        return lambda message: True
    return _terms(text)


def matches(pattern: str, message: str) -> bool:
    return compile_pattern(pattern)(message)


def _terms(text: str) -> Matcher:
    required: list[str] = []
    excluded: list[str] = []
    optional: list[str] = []
    for quoted, bare in re.findall(r'([?-]?"(?:[^"\\]|\\.)*")|(\S+)', text):
        token = quoted or bare
        prefix = token[0] if token[0] in "?-" and len(token) > 1 else ""
        term = token[len(prefix) :]
        if term.startswith('"'):
            term = json.loads(term)
        {"": required, "-": excluded, "?": optional}[prefix].append(term)

    def match(message: str) -> bool:
        if optional and not any(term in message for term in optional):
            return False
        return all(term in message for term in required) and not any(term in message for term in excluded)

    return match


class _JsonParser:
    """A recursive descent over ``or := and ('||' and)*``, ``and := atom ('&&' atom)*``."""

    def __init__(self, text: str) -> None:
        self._tokens = self._lex(text)
        self._at = 0

    @staticmethod
    def _lex(text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            found = _TOKEN.match(text, position)
            if found is None or found.end() == position:
                raise FilterPatternError(f"unexpected {text[position:]!r}")
            kind = found.lastgroup
            assert kind is not None
            tokens.append((kind, found.group(kind)))
            position = found.end()
        return tokens

    def parse(self) -> Matcher:
        matcher = self._or()
        if self._at != len(self._tokens):
            raise FilterPatternError(f"unexpected {self._tokens[self._at][1]!r}")
        return lambda message: _with_object(message, matcher)

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise FilterPatternError("the pattern ends too early")
        self._at += 1
        return token

    def _or(self) -> Callable[[Any], bool]:
        parts = [self._and()]
        while self._peek() == ("op", "||"):
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda record: any(part(record) for part in parts)

    def _and(self) -> Callable[[Any], bool]:
        parts = [self._atom()]
        while self._peek() == ("op", "&&"):
            self._take()
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else lambda record: all(part(record) for part in parts)

    def _atom(self) -> Callable[[Any], bool]:
        kind, text = self._take()
        if (kind, text) == ("op", "("):
            inner = self._or()
            if self._take() != ("op", ")"):
                raise FilterPatternError("a parenthesis is not closed")
            return inner
        if kind != "selector":
            raise FilterPatternError(f"a selector ($.name) expected, not {text!r}")
        path = _path(text)
        kind, word = self._take()
        if kind == "word" and word.upper() == "IS":
            _, what = self._take()
            wanted = {"NULL": None, "TRUE": True, "FALSE": False}.get(what.upper(), _MISSING)
            if wanted is _MISSING:
                raise FilterPatternError(f"IS {what}: one of NULL, TRUE, FALSE")
            return lambda record: (value := _lookup(record, path)) is not _MISSING and value is wanted
        if kind == "word" and word.upper() == "NOT":
            if self._take()[1].upper() != "EXISTS":
                raise FilterPatternError("NOT EXISTS expected")
            return lambda record: _lookup(record, path) is _MISSING
        if kind != "op" or word not in ("=", "!=", "<", "<=", ">", ">="):
            raise FilterPatternError(f"a comparison expected after {text}, not {word!r}")
        return _comparison(path, word, self._take())


def _with_object(message: str, matcher: Callable[[Any], bool]) -> bool:
    try:
        record = json.loads(message)
    except ValueError:
        return False
    return isinstance(record, dict) and matcher(record)


def _path(selector: str) -> list[str | int]:
    return [
        int(part[1:-1]) if part.startswith("[") else part[1:] for part in re.findall(r"\.[^.\[]+|\[\d+\]", selector)
    ]


def _lookup(record: Any, path: list[str | int]) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(record, list) or step >= len(record):
                return _MISSING
            record = record[step]
        elif isinstance(record, dict) and step in record:
            record = record[step]
        else:
            return _MISSING
    return record


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _comparison(path: list[str | int], operator: str, operand: tuple[str, str]) -> Callable[[Any], bool]:
    kind, raw = operand
    if kind not in ("string", "word"):
        raise FilterPatternError(f"a value expected after {operator}, not {raw!r}")
    text = json.loads(raw) if kind == "string" else raw
    number = None if kind == "string" else _number(text)
    if operator in ("<", "<=", ">", ">="):
        if number is None:
            raise FilterPatternError(f"{operator} compares numbers, not {raw}")
        compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[operator]
        return lambda record: _is_number(value := _lookup(record, path)) and compare(float(value), number)
    if number is not None:

        def equal(value: Any) -> bool:
            return _is_number(value) and float(value) == number
    else:
        wildcard = re.compile(".*".join(re.escape(piece) for piece in text.split("*")), re.DOTALL)

        def equal(value: Any) -> bool:
            return isinstance(value, str) and wildcard.fullmatch(value) is not None

    if operator == "=":
        return lambda record: equal(_lookup(record, path))
    return lambda record: (value := _lookup(record, path)) is not _MISSING and not equal(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
