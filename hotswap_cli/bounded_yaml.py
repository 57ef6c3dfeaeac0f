"""Reading YAML and JSON text within limits every reader shares: nesting depth, alias expansion,
no complex keys. The repo's loader (core.config.yamlsrc) and every reply from an instance
(formats.parse_config_bytes) go through here, so a 300-byte alias bomb or a document nested
100,000 deep ends in one line instead of gigabytes or a crash."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

# Real configs nest a few dozen levels at most; past this the recursive steps after parsing
# (merge, schema validation, hashing) would run out of stack, and libyaml's composer crashes.
MAX_DEPTH = 100
# What YAML aliases may add to a document, in (about) bytes of compact JSON: the 1 MiB limit of a
# rendered config. A few nested aliases otherwise expand 300 bytes into gigabytes.
MAX_ALIAS_EXPANSION = 1024 * 1024


def format_size(n: int) -> str:
    """`16 MiB`, `512 KiB` or `300 bytes`: a limit as people write it."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


class DataLimitError(ValueError):
    """Text that is refused as data: too deep, an alias bomb, a complex key. `line`/`column` are
    1-based where known."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.reason = reason
        self.line = line
        self.column = column


def check_depth(data: Any, max_depth: int = MAX_DEPTH) -> None:
    """Refuse parsed data nested deeper than `max_depth` (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise DataLimitError(f"nested deeper than {max_depth} levels")
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))


def compose_yaml(text: str, *, max_depth: int = MAX_DEPTH,
                 max_alias: int = MAX_ALIAS_EXPANSION) -> yaml.Node | None:
    """The node graph of a single YAML document, built without recursion from libyaml's events,
    refusing (DataLimitError at the offending line) nesting past `max_depth`, aliases that would
    expand the document by more than `max_alias` (about bytes of compact JSON; counted as each
    alias is read, so a bomb stops early), recursive aliases and complex keys (a list or mapping
    as a key). Syntax errors raise yaml.MarkedYAMLError."""
    import yaml

    loader = _EventLoader(text)
    try:
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # document start
        root = _Composer(loader, max_depth, max_alias).compose()
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            event = loader.get_event()
            raise yaml.composer.ComposerError(None, None, "expected a single document, found another",
                                              event.start_mark)
        return root
    finally:
        loader.dispose()


class NotPlain(Exception):
    """The text uses what load_plain leaves to compose_yaml and a constructor: a tag, an anchor or
    alias, a key that is not text (a merge key, a number, a list), a duplicate key, nesting past
    the limit, more than one document, or a syntax error."""


_STR = "tag:yaml.org,2002:str"
_PENDING = object()  # a mapping whose next scalar is a key


def load_plain(text: str, constructor: Any, max_depth: int = MAX_DEPTH) -> Any:
    """The data of a single YAML document made only of mappings with text keys, sequences and
    untagged scalars (what configs and profiles are), built straight from libyaml's events: no
    node graph, so about half the time of compose_yaml and a constructor on a fleet-sized profile.
    Scalars resolve as YAML 1.1 says; any but text are built by `constructor` (a SafeConstructor).
    Raises NotPlain for anything else; the caller then takes compose_yaml's path, which refuses it
    or builds it, and places any error."""
    import yaml

    loader = _EventLoader(text)
    try:
        return _plain(loader, constructor, max_depth)
    except yaml.YAMLError:
        raise NotPlain from None
    finally:
        loader.dispose()


def _plain(loader: Any, constructor: Any, max_depth: int) -> Any:
    import yaml

    scalar_event, scalar_node = yaml.ScalarEvent, yaml.ScalarNode
    mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    mapping_end, sequence_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    get_event, resolve, makers = loader.get_event, loader.resolve, constructor.yaml_constructors
    get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        return None
    get_event()  # document start
    stack: list[Any] = []  # the open collections
    keys: list[Any] = []  # per open collection: its pending key (_PENDING: the next scalar is one)
    while True:
        event = get_event()
        kind = type(event)
        if kind is scalar_event or kind is mapping_start or kind is sequence_start:
            if event.anchor is not None or (event.tag or "!") != "!":
                raise NotPlain  # an anchor or a tag
        if kind is scalar_event:
            tag = resolve(scalar_node, event.value, event.implicit)
            if tag == _STR:
                value: Any = event.value
            elif stack and keys[-1] is _PENDING and type(stack[-1]) is dict:
                raise NotPlain  # a key that is not text (a number, null, `<<`)
            elif tag in makers:
                value = makers[tag](constructor, scalar_node(tag, event.value, event.start_mark, event.end_mark,
                                                             style=event.style))
            else:
                raise NotPlain
            if not stack:
                root = value
                break
            parent = stack[-1]
            if type(parent) is list:
                parent.append(value)
            elif keys[-1] is _PENDING:
                if value in parent:
                    raise NotPlain  # a duplicate key
                keys[-1] = value
            else:
                parent[keys[-1]] = value
                keys[-1] = _PENDING
        elif kind is mapping_start or kind is sequence_start:
            if len(stack) >= max_depth:
                raise NotPlain
            value = {} if kind is mapping_start else []
            if stack:
                parent = stack[-1]
                if type(parent) is list:
                    parent.append(value)
                elif keys[-1] is _PENDING:
                    raise NotPlain  # a list or mapping as a key
                else:
                    parent[keys[-1]] = value
                    keys[-1] = _PENDING
            stack.append(value)
            keys.append(_PENDING)
        elif kind is mapping_end or kind is sequence_end:
            root = stack.pop()
            keys.pop()
            if not stack:
                break
        else:
            raise NotPlain  # an alias
    get_event()  # document end
    if not loader.check_event(yaml.StreamEndEvent):
        raise NotPlain
    return root


class _Composer:
    """yaml.composer.Composer without recursion, counting depth and alias expansion."""

    def __init__(self, loader: Any, max_depth: int, max_alias: int) -> None:
        self.loader = loader
        self.max_depth = max_depth
        self.max_alias = max_alias
        self.anchors: dict[str, yaml.Node] = {}
        self.size: dict[int, int] = {}  # id(node) -> its expanded size (about bytes of compact JSON)
        self.expanded = 0

    def compose(self) -> yaml.Node:
        import yaml

        # the loop runs once per event: names bound here, not looked up on the module each time
        alias_event, scalar_event, scalar_node = yaml.AliasEvent, yaml.ScalarEvent, yaml.ScalarNode
        sequence_start, mapping_start = yaml.SequenceStartEvent, yaml.MappingStartEvent
        sequence_node, mapping_node = yaml.SequenceNode, yaml.MappingNode
        collection_end = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
        get_event, resolve, size, attach = self.loader.get_event, self.loader.resolve, self.size, self._attach
        stack: list[list[Any]] = []  # [collection node, pending mapping key or None]
        open_nodes: set[int] = set()
        while True:
            event: Any = get_event()
            start: Any = event.start_mark  # libyaml's Mark, which yaml's stubs do not name
            if isinstance(event, alias_event):
                node = self.anchors.get(event.anchor)  # type: ignore[arg-type]
                if node is None:
                    raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                                      start)
                if id(node) in open_nodes:
                    raise _refuse(f"alias *{event.anchor} refers to a collection that contains it", event)
                self.expanded += self.size[id(node)]
                if self.expanded > self.max_alias:
                    raise _refuse(f"YAML aliases expand the document past {format_size(self.max_alias)} "
                                  f"(at *{event.anchor}); write the values out instead of nesting aliases", event)
            elif isinstance(event, scalar_event):
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(scalar_node, event.value, event.implicit)
                end: Any = event.end_mark
                node = scalar_node(tag, event.value, start, end, style=event.style)
                size[id(node)] = len(event.value) + 2
                if event.anchor is not None:
                    self.anchors[event.anchor] = node
            elif isinstance(event, sequence_start | mapping_start):
                kind = sequence_node if isinstance(event, sequence_start) else mapping_node
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(kind, None, event.implicit)
                node = kind(tag, [], start, None, flow_style=event.flow_style)
                if event.anchor is not None:
                    self.anchors[event.anchor] = node
                if len(stack) >= self.max_depth:
                    raise _refuse(f"nested deeper than {self.max_depth} levels", event)
                attach(stack, node, event)
                stack.append([node, None])
                open_nodes.add(id(node))
                continue
            elif isinstance(event, collection_end):
                node, _ = stack.pop()
                open_nodes.discard(id(node))
                node.end_mark = event.end_mark
                items = node.value if isinstance(node, sequence_node) else [n for kv in node.value for n in kv]
                size[id(node)] = 2 + sum(size[id(n)] for n in items)
                if not stack:
                    return node
                continue
            else:  # pragma: no cover - libyaml yields only the events above inside a document
                raise yaml.composer.ComposerError(None, None, f"unexpected {type(event).__name__}",
                                                  event.start_mark)
            if not stack:
                return node
            attach(stack, node, event)

    @staticmethod
    def _attach(stack: list[list[Any]], node: Any, event: Any) -> None:
        if not stack:
            return
        frame = stack[-1]
        parent = frame[0]
        if parent.id == "sequence":  # yaml's node classes name their kind: scalar, sequence, mapping
            parent.value.append(node)
        elif frame[1] is None:
            if node.id != "scalar":
                raise _refuse("a mapping key is a list or mapping (a YAML complex key); keys must be text", event)
            frame[1] = node
        else:
            parent.value.append((frame[1], node))
            frame[1] = None


def _refuse(reason: str, event: Any) -> DataLimitError:
    mark = event.start_mark
    return DataLimitError(reason, mark.line + 1, mark.column + 1) if mark else DataLimitError(reason)


def _event_loader() -> type:
    import yaml

    try:
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - PyYAML without libyaml: the pure-Python parser
        class PyEventLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.resolver.Resolver):
            def __init__(self, stream: str) -> None:
                yaml.reader.Reader.__init__(self, stream)
                yaml.scanner.Scanner.__init__(self)
                yaml.parser.Parser.__init__(self)
                yaml.resolver.Resolver.__init__(self)

            def dispose(self) -> None:
                pass

        return PyEventLoader

    class EventLoader(CParser, yaml.resolver.Resolver):  # type: ignore[misc]
        """libyaml's events (its parser is iterative; its composer is not) and the YAML 1.1 tag resolver."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.resolver.Resolver.__init__(self)

    return EventLoader


_loader_class: type | None = None


def _EventLoader(text: str) -> Any:  # noqa: N802 - a lazily built class
    global _loader_class
    if _loader_class is None:
        _loader_class = _event_loader()
    return _loader_class(text)


def text_dates() -> Any:
    """A SafeConstructor that keeps YAML dates as the text they were written as (configs are JSON data)."""
    import yaml

    constructor = yaml.constructor.SafeConstructor()
    constructor.yaml_constructors = {**constructor.yaml_constructors,  # type: ignore[misc]
                                     "tag:yaml.org,2002:timestamp": yaml.constructor.SafeConstructor.construct_scalar}
    return constructor
