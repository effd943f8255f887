"""Safe, bounded YAML reading that keeps every scalar's text and every value's line.

PyYAML's safe loader would turn ``0.1`` into a float (losing the exact decimal) and ``yes`` into a
boolean (a plausible token name). Here the document is only *composed* (no constructor runs, so no
tag can build an object), and the node tree is converted by hand:

- plain scalars stay text, except ``true``/``false`` (booleans) and ``null``/``~``/empty (None);
- only the standard tags are accepted; any other tag (``!!python/...``) is refused;
- duplicate mapping keys are refused;
- aliases are followed, but the total number of nodes visited is bounded, so an alias bomb is
  refused instead of exhausting memory; the file size is bounded too.

``Doc.line(place)`` gives the line of the value at a place such as ``contexts[2].next.b``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from .errors import BadInput

MAX_FILE_BYTES = 2_000_000
MAX_NODES = 200_000
MAX_DEPTH = 50

_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NULL = {"", "~", "null", "Null", "NULL"}
_STD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class _Loader(yaml.SafeLoader):
    """A composer with no implicit resolvers: every plain scalar is tagged as text."""


_Loader.yaml_implicit_resolvers = {}


@dataclass
class Doc:
    """The converted document plus the line of every place in it."""

    data: object
    lines: dict[str, int] = field(default_factory=dict)

    def line(self, place: str) -> int | None:
        while place:
            if place in self.lines:
                return self.lines[place]
            place = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", place)
        return self.lines.get("")


def join(place: str, key: object) -> str:
    """The place of ``key`` (an index or a mapping key) inside ``place``."""
    if isinstance(key, int):
        return f"{place}[{key}]"
    return f"{place}.{key}" if place else str(key)


def load(text: bytes | str, where: str) -> Doc:
    """Parse ``text`` (the bytes of the file ``where``) into a ``Doc``; raise BadInput if unsafe."""
    if len(text) > MAX_FILE_BYTES:
        raise BadInput(f"file is {len(text)} bytes; the limit is {MAX_FILE_BYTES}", where=where)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"not UTF-8 text ({exc.reason} at byte {exc.start})", where=where) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"YAML syntax error: {problem}", where=where,
                       line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise BadInput("YAML nesting is too deep", where=where) from None
    doc = Doc(data=None)
    if node is None:
        return doc
    budget = [MAX_NODES]
    doc.data = _convert(node, "", doc, where, budget, 0)
    return doc


def _convert(node, place, doc: Doc, where: str, budget: list[int], depth: int):
    budget[0] -= 1
    if budget[0] < 0:
        raise BadInput(f"the document expands to more than {MAX_NODES} values (an alias bomb?)",
                       where=where, place=place, line=node.start_mark.line + 1)
    if depth > MAX_DEPTH:
        raise BadInput(f"nesting deeper than {MAX_DEPTH} levels", where=where, place=place,
                       line=node.start_mark.line + 1)
    doc.lines.setdefault(place, node.start_mark.line + 1)
    tag = node.tag
    explicit = tag not in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
    if explicit and tag not in _STD_TAGS:
        raise BadInput(f"YAML tag {tag!r} is not allowed (case files hold plain data only)",
                       where=where, place=place, line=node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        value = node.value
        if node.style is None and tag == "tag:yaml.org,2002:str":
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
            if value in _NULL:
                return None
        if tag == "tag:yaml.org,2002:bool":
            if value in _TRUE | {"yes", "Yes", "on", "On"}:
                return True
            return False
        if tag == "tag:yaml.org,2002:null":
            return None
        return value
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, join(place, i), doc, where, budget, depth + 1)
                for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise BadInput("mapping keys must be plain text", where=where, place=place,
                               line=key_node.start_mark.line + 1)
            key = key_node.value
            if key == "<<":
                raise BadInput("YAML merge keys ('<<') are not allowed", where=where,
                               place=place, line=key_node.start_mark.line + 1)
            if key in out:
                raise BadInput(f"duplicate key {key!r}", where=where, place=join(place, key),
                               line=key_node.start_mark.line + 1)
            out[key] = _convert(value_node, join(place, key), doc, where, budget, depth + 1)
        return out
    raise BadInput("unsupported YAML node", where=where, place=place)  # pragma: no cover
