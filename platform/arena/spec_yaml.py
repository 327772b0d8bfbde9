"""YAML as a spec reads it: bounded in size, depth and values with every alias expanded, before anything walks it.

Aliases share what they refer to, so a few hundred bytes of nested aliases can stand for billions of
values (a "billion laughs"). Copying, overriding or validating such a tree would run for minutes and
eat memory; it is measured here, node by node, and refused in well under a second.
"""

from __future__ import annotations

from typing import Any

import yaml

from arena.errors import SpecError

MAX_SPEC_BYTES = 64 * 1024
"""The largest spec file read: the biggest shipped spec is under 2 KB."""
MAX_SPEC_DEPTH = 24
"""The deepest nesting of sections and lists, aliases expanded: a spec nests 5 levels at most."""
MAX_SPEC_VALUES = 20_000
"""Keys, values and list items in a spec once every YAML alias is expanded: a few hundred in any real
spec. Aliases share what they refer to, so a few hundred bytes can expand to billions of values
(a "billion laughs"); the spec is refused before anything walks or copies them."""


class _SpecTooLarge(Exception):
    """A YAML document past one of the spec limits; the message names the limit."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that measures the document, aliases expanded, before building any value."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_SPEC_DEPTH:
                raise _SpecTooLarge(f"nested deeper than {MAX_SPEC_DEPTH} levels (the limit for a spec)")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: yaml.Node) -> Any:
        _measure(node)
        return super().construct_document(node)


def _measure(root: yaml.Node) -> None:
    """Raise _SpecTooLarge when `root`, every alias expanded, is too deep, too large or refers to itself.

    Each node is measured once (its expanded size and height remembered), so the walk costs what
    the text holds, not what its aliases expand to.
    """
    measured: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()

    def walk(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_nodes:
            raise _SpecTooLarge("an alias refers to a section that contains it")
        if key in measured:
            size, height = measured[key]
        else:
            open_nodes.add(key)
            size, height = 1, 1
            children = node.value if isinstance(node, yaml.SequenceNode) else []
            if isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            for child in children:
                child_size, child_height = walk(child, depth + 1)
                size, height = size + child_size, max(height, child_height + 1)
                if size > MAX_SPEC_VALUES:
                    raise _SpecTooLarge(
                        f"its aliases expand to more than {MAX_SPEC_VALUES:,} values (the limit for a spec)"
                    )
            open_nodes.discard(key)
            measured[key] = size, height
        if depth + height - 1 > MAX_SPEC_DEPTH:
            raise _SpecTooLarge(f"its aliases nest deeper than {MAX_SPEC_DEPTH} levels (the limit for a spec)")
        return size, height

    walk(root, 1)


def parse_yaml(text: str, source: str) -> Any:
    """YAML text as data, within the spec limits; malformed or unbounded text is a SpecError naming `source`."""
    loader = None
    try:
        loader = _BoundedLoader(text)  # reading starts here: a control character is refused at once
        return loader.get_single_data()
    except _SpecTooLarge as error:
        raise SpecError([f"refused: {error}"], source=source) from None
    except yaml.YAMLError as error:
        raise SpecError([f"not valid YAML: {' '.join(str(error).split())}"], source=source) from None
    except RecursionError:
        raise SpecError(["not valid YAML: nested too deeply"], source=source) from None
    finally:
        if loader is not None:
            loader.dispose()
