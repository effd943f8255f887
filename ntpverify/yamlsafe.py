"""Safe, bounded YAML reading that keeps every scalar's text and every value's line.

PyYAML's safe loader would turn ``0.1`` into a float (losing the exact decimal) and ``yes`` into a
boolean (a plausible token name). Here the document is only *composed* (no constructor runs, so no
tag can build an object), and the node tree is converted by hand:

- untagged plain scalars stay text, except ``true``/``false`` (booleans) and ``null``/``~``/empty
  (None); quoted and block scalars are always text;
- explicit standard tags are honoured: ``!!str`` (and the non-specific ``!``) is always text;
  ``!!bool`` must be true/false, yes/no or on/off; ``!!null`` must be a null form; ``!!int`` and
  ``!!float`` stay text for the exact number parser; ``!!map``/``!!seq`` only on their own kind;
- any other tag (``!!python/...``, ``!local``) is refused, on mapping keys as on values;
- mapping keys are text; duplicate keys and merge keys (``<<``) are refused;
- aliases are followed, but the total number of values visited is bounded, so an alias bomb is
  refused instead of exhausting memory; the file size, the number of nodes and the nesting depth
  are bounded too, and checked while the file is read, so an oversized file is refused early.

The events come from libyaml's C parser when PyYAML was built with it, else from the pure-Python
parser. With libyaml the slowest files within the limits we found (a megabyte of lists nested
just under MAX_DEPTH, or of numbers in one list) are refused at MAX_NODES in about 1.3 s on a
2-core machine; the pure-Python parser takes about 8 s for the list (the old pure-Python loader took
27 s on a 1.9 MB one). The composer is our own and iterative: libyaml's C composer recurses in C
and crashes the interpreter on deeply nested input.

``Doc.line(place)`` gives the line of the value at a place such as ``contexts[2].next.b``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml
from yaml.events import (AliasEvent, MappingEndEvent, MappingStartEvent, ScalarEvent,
                         SequenceEndEvent, SequenceStartEvent, StreamEndEvent)

from .errors import BadInput

try:  # libyaml's C parser (events only; the composer below is ours)
    from yaml.cyaml import CParser as _EventParser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _EventParser = yaml.SafeLoader

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 200_000       # YAML nodes and alias uses in the file; values with aliases expanded
MAX_DEPTH = 50

_T = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MAP, SEQ = (_T + k for k in ("str", "int", "float", "bool", "null",
                                                           "map", "seq"))
_STD_TAGS = {STR, INT, FLOAT, BOOL, NULL, MAP, SEQ}
_KEY_TAGS = {None, "!", STR, INT, FLOAT}

_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL_TRUE = _TRUE | {"yes", "Yes", "YES", "on", "On", "ON"}     # for an explicit !!bool (YAML 1.1)
_BOOL_FALSE = _FALSE | {"no", "No", "NO", "off", "Off", "OFF"}

_SCALAR, _SEQ, _MAP = "scalar", "list", "mapping"


class _Node:
    """A composed node: ``kind`` is scalar, list or mapping; ``tag`` is None when untagged;
    ``value`` is the text, the list of nodes, or the list of (key node, value node) pairs."""

    __slots__ = ("kind", "tag", "value", "plain", "line")

    def __init__(self, kind: str, tag: str | None, value, plain: bool, line: int):
        self.kind, self.tag, self.value, self.plain, self.line = kind, tag, value, plain, line


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
    if isinstance(text, str):
        try:
            text = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadInput(f"not UTF-8 text ({exc.reason} at character {exc.start})", where=where) from None
    if len(text) > MAX_FILE_BYTES:
        raise BadInput(f"file is {len(text)} bytes; the limit is {MAX_FILE_BYTES}", where=where)
    try:
        text = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"not UTF-8 text ({exc.reason} at byte {exc.start})", where=where) from None
    root, aliased = _Composer(text, where).compose()
    doc = Doc(data=None)
    if root is None:
        return doc
    budget = [MAX_NODES]
    doc.data = _convert(root, "", doc, where, budget, 0, aliased)
    return doc


class _Composer:
    """Events to a tree of ``_Node``, iteratively, refusing too many nodes or too deep nesting
    as soon as they are read (with the place and line where the bound was crossed)."""

    def __init__(self, text: str, where: str):
        self.text = text
        self.where = where

    def compose(self) -> tuple[_Node | None, bool]:
        try:
            parser = _EventParser(self.text)  # the pure-Python reader checks characters here
        except yaml.YAMLError as exc:
            raise self._syntax(exc) from None
        try:
            return self._compose(parser)
        except yaml.YAMLError as exc:
            raise self._syntax(exc) from None
        finally:
            parser.dispose()

    def _syntax(self, exc: yaml.YAMLError) -> BadInput:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None)
        if isinstance(exc, yaml.reader.ReaderError):      # a bad character: no mark, a position
            line = self._line_of(exc.position)
            problem = None
        problem = problem or str(exc).splitlines()[0]
        if "maximum nesting depth" in problem:   # libyaml >= 0.2.6 scans ahead and stops first
            return BadInput(f"nesting deeper than {MAX_DEPTH} levels (the YAML reader stopped at its "
                            "own nesting limit)", where=self.where, line=line)
        return BadInput(f"YAML syntax error: {problem}", where=self.where, line=line)

    def _line_of(self, position) -> int | None:
        if not isinstance(position, int) or not 0 <= position <= len(self.text):
            return None
        return self.text.count("\n", 0, position) + 1

    def _compose(self, parser) -> tuple[_Node | None, bool]:
        parser.get_event()                                   # StreamStart
        if parser.check_event(StreamEndEvent):
            return None, False
        parser.get_event()                                   # DocumentStart
        anchors: dict[str, _Node] = {}
        aliased = False
        count = 0
        # one frame per open collection: [node, pending key node or _NO_KEY, label in its parent]
        stack: list[list] = []
        root = None
        get = parser.get_event
        while True:
            event = get()
            cls = type(event)
            if cls is SequenceEndEvent or cls is MappingEndEvent:
                stack.pop()
                if not stack:
                    break
                continue
            count += 1                 # nodes and alias uses: each is at least one value
            if cls is AliasEvent:
                if event.anchor not in anchors:
                    raise BadInput(f"YAML syntax error: found undefined alias {event.anchor!r}",
                                   where=self.where, line=event.start_mark.line + 1)
                node = anchors[event.anchor]
                aliased = True
                if count > MAX_NODES:
                    raise self._too_big(stack, count, event.start_mark.line + 1, aliased)
            else:
                if count > MAX_NODES or len(stack) > MAX_DEPTH:
                    raise self._too_big(stack, count, event.start_mark.line + 1, aliased)
                if cls is ScalarEvent:
                    node = _Node(_SCALAR, event.tag, event.value, event.style in _PLAIN_STYLES,
                                 event.start_mark.line + 1)
                else:
                    node = _Node(_SEQ if cls is SequenceStartEvent else _MAP, event.tag, [], False,
                                 event.start_mark.line + 1)
                if event.anchor is not None:
                    if event.anchor in anchors:
                        raise BadInput(f"YAML syntax error: found duplicate anchor {event.anchor!r}",
                                       where=self.where, line=node.line)
                    anchors[event.anchor] = node
            label = None
            if stack:
                top = stack[-1]
                parent = top[0]
                if parent.kind is _SEQ:
                    label = len(parent.value)
                    parent.value.append(node)
                elif top[1] is _NO_KEY:
                    top[1] = node
                else:
                    label = top[1]
                    parent.value.append((top[1], node))
                    top[1] = _NO_KEY
            else:
                root = node
            if cls is SequenceStartEvent or cls is MappingStartEvent:
                stack.append([node, _NO_KEY, label])
            elif not stack:
                break
        parser.get_event()                                   # DocumentEnd
        if not parser.check_event(StreamEndEvent):
            event = parser.get_event()
            raise BadInput("YAML syntax error: expected a single document in the stream but found "
                           "another document", where=self.where, line=event.start_mark.line + 1)
        return root, aliased

    def _too_big(self, stack: list[list], count: int, line: int, aliased: bool) -> BadInput:
        """The refusal for a node read past a bound, at the place it would have had."""
        place = ""
        for _node, _key, label in stack:
            if label is not None:
                place = join(place, _label(label))
        top = stack[-1] if stack else None
        if top is not None:
            if top[0].kind is _SEQ:
                place = join(place, len(top[0].value))
            elif top[1] is not _NO_KEY:
                place = join(place, _label(top[1]))
        if count > MAX_NODES:
            what = ("expands to more than {n} values once its aliases are expanded" if aliased
                    else "has more than {n} YAML nodes (keys and values)").format(n=MAX_NODES)
            return BadInput(f"the document {what}; the limit is {MAX_NODES}", where=self.where,
                            place=place, line=line)
        return BadInput(f"nesting deeper than {MAX_DEPTH} levels", where=self.where, place=place,
                        line=line)


def _label(label) -> int | str:
    """A frame label (an index, or the key node) as a ``join`` key."""
    if isinstance(label, int):
        return label
    return label.value if label.kind is _SCALAR else "?"


_PLAIN_STYLES = (None, "")        # the C parser reports a plain scalar's style as "", Python as None


_NO_KEY = object()


def _short(tag: str) -> str:
    return "!!" + tag[len(_T):] if tag.startswith(_T) else tag


def _check_tag(node: _Node, place: str, where: str) -> None:
    tag = node.tag
    if tag is None or tag == "!":
        return
    if tag not in _STD_TAGS:
        raise BadInput(f"YAML tag {tag!r} is not allowed (case files hold plain data only)",
                       where=where, place=place, line=node.line)
    fits = {MAP: _MAP, SEQ: _SEQ}.get(tag, _SCALAR)
    if fits != node.kind:
        raise BadInput(f"the tag {_short(tag)} does not fit a {node.kind}", where=where, place=place,
                       line=node.line)


def _scalar(node: _Node, place: str, where: str):
    """The value of a scalar node: text, True/False or None, by the rules in the module docstring."""
    tag, value = node.tag, node.value
    if tag is None:
        if node.plain:
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
            if value in _NULL:
                return None
        return value
    if tag == BOOL:
        if value in _BOOL_TRUE:
            return True
        if value in _BOOL_FALSE:
            return False
        raise BadInput(f"!!bool {value[:40]!r} is not a boolean (true/false, yes/no, on/off)",
                       where=where, place=place, line=node.line)
    if tag == NULL:
        if value in _NULL:
            return None
        raise BadInput(f"!!null {value[:40]!r} is not a null (null, ~ or nothing)", where=where,
                       place=place, line=node.line)
    return value          # "!", !!str, and !!int / !!float (text, for the exact number parser)


def _convert(node: _Node, place: str, doc: Doc, where: str, budget: list[int], depth: int,
             aliased: bool):
    budget[0] -= 1
    if budget[0] < 0:
        what = (f"expands to more than {MAX_NODES} values once its aliases are expanded" if aliased
                else f"has more than {MAX_NODES} values")
        raise BadInput(f"the document {what}; the limit is {MAX_NODES}", where=where, place=place,
                       line=node.line)
    if depth > MAX_DEPTH:
        raise BadInput(f"nesting deeper than {MAX_DEPTH} levels", where=where, place=place,
                       line=node.line)
    doc.lines.setdefault(place, node.line)
    _check_tag(node, place, where)
    if node.kind == _SCALAR:
        return _scalar(node, place, where)
    if node.kind == _SEQ:
        return [_convert(item, join(place, i), doc, where, budget, depth + 1, aliased)
                for i, item in enumerate(node.value)]
    out: dict[str, object] = {}
    for key_node, value_node in node.value:
        if key_node.kind != _SCALAR:
            raise BadInput("mapping keys must be plain text", where=where, place=place,
                           line=key_node.line)
        key = key_node.value
        _check_tag(key_node, join(place, key), where)
        if key_node.tag not in _KEY_TAGS:
            raise BadInput(f"mapping keys are text; the tag {_short(key_node.tag)} is not allowed "
                           "on a key", where=where, place=join(place, key), line=key_node.line)
        if key == "<<":
            raise BadInput("YAML merge keys ('<<') are not allowed", where=where,
                           place=place, line=key_node.line)
        if key in out:
            raise BadInput(f"duplicate key {key!r}", where=where, place=join(place, key),
                           line=key_node.line)
        out[key] = _convert(value_node, join(place, key), doc, where, budget, depth + 1, aliased)
    return out
