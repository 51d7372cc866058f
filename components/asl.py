"""State machine definitions: ``components/statemachines/*.asl.json`` with ``${Name}`` placeholders.

A string that is exactly one placeholder is replaced by the value itself, so numbers stay numbers
(``"MaxConcurrency": "${MaxConcurrency}"`` becomes ``"MaxConcurrency": 10``); a placeholder inside
a longer string is replaced by the value's text. Every placeholder must get a value and every value
must be used: a typo on either side fails the program at build time, naming the file and the name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

STATEMACHINES_DIR = Path(__file__).resolve().parent / "statemachines"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")
_SYNC_SUFFIX = re.compile(r"\.sync(:\d+)?$")


class DefinitionError(ValueError):
    """A state machine template that cannot be rendered as given."""


@dataclass(frozen=True)
class DefinitionTemplate:
    path: Path
    document: dict[str, Any]

    @classmethod
    def load(cls, file_name: str, directory: Path = STATEMACHINES_DIR) -> DefinitionTemplate:
        path = directory / file_name
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise DefinitionError(f"{path}: no such state machine definition") from None
        except json.JSONDecodeError as error:
            raise DefinitionError(f"{path}: not valid JSON: {error}") from None
        if not isinstance(document, dict) or "States" not in document:
            raise DefinitionError(f"{path}: not an Amazon States Language definition (no 'States')")
        template = cls(path, document)
        for key in _keys(document):
            if PLACEHOLDER.search(key):
                raise DefinitionError(f"{path}: placeholder in the key {key!r}: only values may be substituted")
        return template

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(name for text in _strings(self.document) for name in PLACEHOLDER.findall(text))

    def check(self, names: set[str] | frozenset[str]) -> None:
        """Fail unless ``names`` are exactly the template's placeholders."""
        missing = sorted(self.placeholders - names)
        unused = sorted(set(names) - self.placeholders)
        if missing:
            raise DefinitionError(f"{self.path}: no value for placeholder(s) {', '.join(missing)}")
        if unused:
            raise DefinitionError(f"{self.path}: value(s) given for unknown placeholder(s) {', '.join(unused)}")

    def render(self, values: Mapping[str, Any]) -> str:
        """The definition as JSON, with resolved ``values`` substituted."""
        self.check(set(values))
        return json.dumps(_substitute(self.document, values, self.path))

    def definition(self, values: Mapping[str, pulumi.Input[Any]]) -> pulumi.Output[str]:
        """The definition as JSON once every value (plain or Output) is known."""
        self.check(set(values))
        if not values:
            return pulumi.Output.from_input(self.render({}))
        return pulumi.Output.all(**values).apply(self.render)

    def resources(self, values: Mapping[str, Any]) -> list[str]:
        """Every Task's ``Resource``, with ``values`` substituted (they must be plain text, not Outputs:
        what a state machine calls decides which workflow type may run it, at build time)."""
        resources = []
        for key, value in key_values(self.document):
            if key != "Resource" or not isinstance(value, str):
                continue
            for name in PLACEHOLDER.findall(value):
                if not isinstance(values.get(name), str):
                    raise DefinitionError(f"{self.path}: placeholder {name} in a Resource needs a plain string value")
            resources.append(_substitute(value, values, self.path))
        return resources

    def uses_sync_integration(self, values: Mapping[str, Any]) -> bool:
        """Whether a Task waits for a job (``.sync``): only STANDARD state machines may."""
        return any(_SYNC_SUFFIX.search(resource) for resource in self.resources(values))

    def express_children_using_sync(self, values: Mapping[str, Any]) -> list[str]:
        """The ``.sync`` resources inside a Distributed Map whose child executions are EXPRESS: Express
        children cannot wait for a job either, whatever the parent's type."""
        found = []
        for key, value in key_values(self.document):
            if key != "ItemProcessor" or not isinstance(value, dict):
                continue
            config = value.get("ProcessorConfig", {})
            if config.get("Mode") != "DISTRIBUTED":
                continue
            if _substitute(config.get("ExecutionType", "STANDARD"), values, self.path) != "EXPRESS":
                continue
            child = DefinitionTemplate(self.path, value)
            found += [resource for resource in child.resources(values) if _SYNC_SUFFIX.search(resource)]
        return found


def _substitute(node: Any, values: Mapping[str, Any], path: Path) -> Any:
    if isinstance(node, dict):
        return {key: _substitute(value, values, path) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, values, path) for value in node]
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node)
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda match: _text(values[match.group(1)], match.group(1), path), node)
    return node


def _text(value: Any, name: str, path: Path) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DefinitionError(
            f"{path}: placeholder {name} is inside a string; its value must be text, not {type(value).__name__}"
        )
    return str(value)


def key_values(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a JSON document, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from key_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from key_values(value)


def _keys(node: Any) -> Iterator[str]:
    return (key for key, _ in key_values(node))


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
