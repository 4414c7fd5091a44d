"""The condition language: tokenizer, parser and syntax tree.

Policy owners write conditions such as::

    fill_rate >= params.min_fill_rate and province in ["Antwerpen", "Limburg"]
    mean(quarters, filled_fte / contingent_fte where quarter in params.reference_quarters)

The parser is our own (a precedence-climbing recursive descent parser); the
text is never handed to Python's ``eval``. Numbers become ``Decimal``; dates
are written as ``2015-04-01``. The tree is made of frozen dataclasses; every
node knows its character offset in the source text, for error messages.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator, Union

from ..errors import ExpressionError
from .load import bounded_decimal

MAX_LENGTH = 10_000
MAX_DEPTH = 60
AGGREGATES = ("sum", "min", "max", "count", "mean")
DATE_FUNCTIONS = ("days_between", "year_fraction", "quarter_of")
FUNCTIONS = ("min", "max", "floor", "ceil", "round", "lottery") + DATE_FUNCTIONS  # min and max of a list: aggregates
ARITY = {"floor": 1, "ceil": 1, "round": 2, "lottery": 1, "days_between": 2, "year_fraction": 2, "quarter_of": 1}
SHAPES = {"floor": "floor(x)", "ceil": "ceil(x)", "round": "round(x, unit)", "lottery": "lottery(seed)",
          "days_between": "days_between(from, to)", "year_fraction": "year_fraction(from, to)",
          "quarter_of": "quarter_of(date)"}
KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "where", "if", "then", "else"}
RESERVED_NAMES = frozenset({"params", "as_of", "tier"})
COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<date>\d{4}-\d{2}-\d{2}(?![\w.]))
      | (?P<number>\d+(?:\.\d+)?(?![\w]))
      | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<=|>=|<|>|=|\+|-|\*|/|\(|\)|\[|\]|,|\.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    offset: int


# --- the tree -------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any
    offset: int = 0


@dataclass(frozen=True)
class ListLit:
    items: tuple
    offset: int = 0


@dataclass(frozen=True)
class Name:
    path: tuple  # ("assessment", "guidance_actions"), ("params", "min_fill_rate")
    offset: int = 0
    binding: str = ""  # what the name refers to, set by the checker: env, params, tier, item:N or named:N

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Neg:
    operand: "Node"
    offset: int = 0


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: "Node"
    right: "Node"
    offset: int = 0


@dataclass(frozen=True)
class Compare:
    op: str  # == != < <= > >=
    left: "Node"
    right: "Node"
    offset: int = 0


@dataclass(frozen=True)
class In:
    operand: "Node"
    options: "Node"  # a ListLit or a Name of a list parameter
    negated: bool = False
    offset: int = 0


@dataclass(frozen=True)
class IsNull:
    operand: "Node"
    negated: bool = False
    offset: int = 0


@dataclass(frozen=True)
class BoolOp:
    op: str  # and / or
    items: tuple
    offset: int = 0


@dataclass(frozen=True)
class Not:
    operand: "Node"
    offset: int = 0


@dataclass(frozen=True)
class Aggregate:
    """``func(list, item where condition)``; ``name`` is the item's handle in ``func(g in list, ...)``, if given."""

    func: str
    source: "Node"
    item: "Node | None" = None
    where: "Node | None" = None
    offset: int = 0
    name: str | None = None


@dataclass(frozen=True)
class Func:
    """A function of values: min(a, b, ...), max(...), floor(x), ceil(x), round(x, unit), lottery(seed),
    days_between(from, to), year_fraction(from, to), quarter_of(date)."""

    func: str
    args: tuple
    offset: int = 0


@dataclass(frozen=True)
class If:
    """``if condition then a else b``."""

    condition: "Node"
    then: "Node"
    otherwise: "Node"
    offset: int = 0


Node = Union[Literal, ListLit, Name, Neg, Arith, Compare, In, IsNull, BoolOp, Not, Aggregate, Func, If]


# --- tokenizer and parser -------------------------------------------------


def _fraction_of(percent: str) -> str | None:
    from decimal import Decimal, InvalidOperation

    try:
        return format(Decimal(percent).scaleb(-2).normalize(), "f")
    except InvalidOperation:  # '1..2' before the '%': no number
        return None


def tokenize(text: str) -> list[Token]:
    """Split expression text into tokens; raise ExpressionError at the first bad character."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            hint = ""
            if text[pos] == "%":  # 95% is how people write a rate; the language writes it as a fraction
                number = re.match(r"[0-9.]*", text[pos - 1::-1] if pos else "").group()[::-1]
                fraction = _fraction_of(number) if number else None
                hint = f" (write a percentage as a fraction: {fraction} for {number}%)" if fraction else \
                    " (write a percentage as a fraction: 0.95 for 95%)"
            raise ExpressionError(f"unexpected character {text[pos]!r}{hint}", pos)
        kind = match.lastgroup
        if kind != "ws":
            value = match.group()
            if kind == "name" and value in KEYWORDS:
                kind = value
            tokens.append(Token(kind, value, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def parse(text: str) -> Node:
    """Parse one expression into a tree."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be text")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is {len(text):,} characters long; the limit is {MAX_LENGTH:,}")
    if not text.strip():
        raise ExpressionError("expression is empty")
    tree = _Parser(tokenize(text)).parse_all()
    _check_depth(tree)
    return tree


def _check_depth(tree: Node) -> None:
    """Every level of the tree counts, so a chain ``x + x + ...`` of 200 terms is 200 levels deep."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression is nested more than {MAX_DEPTH} levels deep (each operator in a "
                                  "chain such as a + b + c counts as a level)", 0)
        stack.extend((child, depth + 1) for child in children(node))


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def accept(self, *kinds: str) -> Token | None:
        if self.tok.kind in kinds or (self.tok.kind == "op" and self.tok.text in kinds):
            return self.take()
        return None

    def expect(self, text: str, what: str) -> Token:
        token = self.accept(text)
        if token is None:
            raise ExpressionError(f"expected {what}, found {_describe(self.tok)}", self.tok.offset)
        return token

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression is nested more than {MAX_DEPTH} levels deep", self.tok.offset)

    # grammar
    def parse_all(self) -> Node:
        node = self.parse_or()
        if self.tok.kind != "end":
            raise ExpressionError(f"unexpected {_describe(self.tok)}", self.tok.offset)
        return node

    def parse_or(self) -> Node:
        return self._bool("or", self.parse_and)

    def parse_and(self) -> Node:
        return self._bool("and", self.parse_not)

    def _bool(self, op: str, operand) -> Node:
        first = operand()
        items = [first]
        while self.accept(op):
            items.append(operand())
        return first if len(items) == 1 else BoolOp(op, tuple(items), _offset(first))

    def parse_not(self) -> Node:
        token = self.accept("not")
        if token:
            self.enter()
            node = Not(self.parse_not(), token.offset)
            self.depth -= 1
            return node
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_sum()
        token = self.tok
        if token.kind == "op" and token.text in COMPARISONS | {"="}:
            self.take()
            op = "==" if token.text == "=" else token.text
            return self._no_chain(Compare(op, left, self.parse_sum(), token.offset))
        if token.kind == "in" or (token.kind == "not" and self.tokens[self.pos + 1].kind == "in"):
            negated = self.take().kind == "not"
            if negated:
                self.take()
            return self._no_chain(In(left, self.parse_sum(), negated, token.offset))
        if token.kind == "is":
            self.take()
            negated = bool(self.accept("not"))
            self.expect("null", "'null' after 'is'")
            return self._no_chain(IsNull(left, negated, token.offset))
        return left

    def _no_chain(self, node: Node) -> Node:
        token = self.tok
        if (token.kind == "op" and token.text in COMPARISONS | {"="}) or token.kind in ("in", "is"):
            raise ExpressionError("comparisons cannot be chained; join them with 'and'", token.offset)
        return node

    def parse_sum(self) -> Node:
        node = self.parse_term()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            token = self.take()
            node = Arith(token.text, node, self.parse_term(), token.offset)
        return node

    def parse_term(self) -> Node:
        node = self.parse_unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            token = self.take()
            node = Arith(token.text, node, self.parse_unary(), token.offset)
        return node

    def parse_unary(self) -> Node:
        token = self.accept("-")
        if token:
            self.enter()
            node = Neg(self.parse_unary(), token.offset)
            self.depth -= 1
            return node
        return self.parse_primary()

    def parse_primary(self) -> Node:
        token = self.tok
        handler = getattr(self, f"_primary_{token.kind}", None)
        if handler is None and token.kind == "op" and token.text in ("(", "["):
            handler = self._group if token.text == "(" else self._list
        if handler is None:
            raise ExpressionError(f"expected a value, found {_describe(token)}", token.offset)
        return handler()

    def _primary_number(self) -> Node:
        token = self.take()
        try:
            value = bounded_decimal(token.text)
        except ValueError as exc:
            raise ExpressionError(str(exc), token.offset) from None
        return Literal(int(token.text) if "." not in token.text else value, token.offset)

    def _primary_date(self) -> Node:
        token = self.take()
        try:
            return Literal(dt.date.fromisoformat(token.text), token.offset)
        except ValueError:
            raise ExpressionError(f"'{token.text}' is not a valid date", token.offset) from None

    def _primary_string(self) -> Node:
        token = self.take()
        body = token.text[1:-1]
        return Literal(re.sub(r"\\(.)", r"\1", body), token.offset)

    def _primary_true(self) -> Node:
        return Literal(True, self.take().offset)

    def _primary_false(self) -> Node:
        return Literal(False, self.take().offset)

    def _primary_null(self) -> Node:
        return Literal(None, self.take().offset)

    def _primary_if(self) -> Node:
        token = self.take()
        self.enter()
        condition = self.parse_or()
        self.expect("then", "'then' after the condition of 'if'")
        then = self.parse_or()
        self.expect("else", "'else': an 'if' needs both branches")
        otherwise = self.parse_or()
        self.depth -= 1
        return If(condition, then, otherwise, token.offset)

    def _primary_name(self) -> Node:
        token = self.take()
        if token.text in AGGREGATES + FUNCTIONS and self.tok.text == "(":
            return self._call(token)
        if self.tok.text == "(":
            names = ", ".join(dict.fromkeys(AGGREGATES + FUNCTIONS))
            raise ExpressionError(f"unknown function '{token.text}'; the functions are {names}", token.offset)
        path = [token.text]
        while self.accept("."):
            part = self.take()
            if part.kind != "name":
                raise ExpressionError(f"expected a field name after '.', found {_describe(part)}", part.offset)
            path.append(part.text)
        return Name(tuple(path), token.offset)

    def _call(self, func: Token) -> Node:
        """An aggregate over a list, or a function of values: ``min(a, b)`` is settled by the checker."""
        self.take()  # (
        self.enter()
        name = self._item_name() if func.text in AGGREGATES else None
        args = [self.parse_sum()]
        while self.accept(","):
            args.append(self.parse_sum())
        where = self.parse_or() if self.accept("where") else None
        self.expect(")", f"')' to close {func.text}(")
        self.depth -= 1
        if name is not None:
            if len(args) > 2:
                raise ExpressionError(f"{func.text}() takes a list and a value: {func.text}({name.text} in list, "
                                      f"value [where condition])", func.offset)
            return self._aggregate(func, args[0], args[1] if len(args) > 1 else None, where, name.text)
        if func.text in ARITY:
            if len(args) != ARITY[func.text] or where is not None:
                raise ExpressionError(f"{func.text}() takes {ARITY[func.text]} value(s): {SHAPES[func.text]}", func.offset)
            return Func(func.text, tuple(args), func.offset)
        if func.text in ("min", "max") and len(args) > 2:
            if where is not None:
                raise ExpressionError(f"{func.text}() of several values takes no 'where'", func.offset)
            return Func(func.text, tuple(args), func.offset)
        if len(args) > 2:
            raise ExpressionError(f"{func.text}() takes a list and a value: {func.text}(list, value [where condition])",
                                  func.offset)
        return self._aggregate(func, args[0], args[1] if len(args) > 1 else None, where)

    def _item_name(self) -> Token | None:
        """``g`` of ``sum(g in grants, ...)``: a name followed by ``in`` opens an aggregate with a named item."""
        if self.tok.kind != "name" or self.tok.text in KEYWORDS or self.tokens[self.pos + 1].text != "in":
            return None
        name = self.take()
        if name.text in RESERVED_NAMES:
            raise ExpressionError(f"'{name.text}' cannot name an item: it already means something", name.offset)
        self.take()  # in
        return name

    def _aggregate(self, func: Token, source: Node, item: Node | None, where: Node | None,
                   name: str | None = None) -> Node:
        if func.text != "count" and item is None:
            raise ExpressionError(
                f"{func.text}() needs a value per item: {func.text}(list, value [where condition])", func.offset
            )
        if func.text == "count" and item is not None:
            raise ExpressionError("count() takes a list and an optional 'where' condition, no value", func.offset)
        return Aggregate(func.text, source, item, where, func.offset, name)

    def _group(self) -> Node:
        self.take()
        self.enter()
        node = self.parse_or()
        self.expect(")", "')'")
        self.depth -= 1
        return node

    def _list(self) -> Node:
        start = self.take()
        self.enter()
        items = []
        if not self.accept("]"):
            items.append(self.parse_sum())
            while self.accept(","):
                items.append(self.parse_sum())
            self.expect("]", "',' or ']' in the list")
        self.depth -= 1
        for item in items:
            if not isinstance(item, Literal) and not isinstance(item, Neg):
                raise ExpressionError("list items must be literal values", _offset(item))
        return ListLit(tuple(_fold(item) for item in items), start.offset)


def _fold(node: Node) -> Literal:
    if isinstance(node, Neg) and isinstance(node.operand, Literal) and isinstance(node.operand.value, (int, Decimal)):
        return Literal(-node.operand.value, node.offset)
    if isinstance(node, Literal):
        return node
    raise ExpressionError("list items must be literal values", _offset(node))


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    return f"'{token.text}'"


def _offset(node: Node) -> int:
    return getattr(node, "offset", 0)


# --- tree utilities -------------------------------------------------------


def children(node: Node) -> Iterator[Node]:
    """The direct sub-expressions of a node."""
    if isinstance(node, (Neg, Not)):
        yield node.operand
    elif isinstance(node, (Arith, Compare)):
        yield node.left
        yield node.right
    elif isinstance(node, In):
        yield node.operand
        yield node.options
    elif isinstance(node, IsNull):
        yield node.operand
    elif isinstance(node, (BoolOp, ListLit)):
        yield from node.items
    elif isinstance(node, Aggregate):
        yield node.source
        yield from (n for n in (node.item, node.where) if n is not None)
    elif isinstance(node, Func):
        yield from node.args
    elif isinstance(node, If):
        yield node.condition
        yield node.then
        yield node.otherwise


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree, parents first."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(children(current))))


def negate(node: Node) -> Node:
    """``not node`` pushed down to the comparisons (De Morgan), so no Not remains.

    A comparison with a missing (null) value is false whether or not it is
    negated, in both evaluators; so ``not (x > 5)`` becomes ``x <= 5``.
    """
    if isinstance(node, BoolOp):
        return BoolOp("or" if node.op == "and" else "and", tuple(negate(i) for i in node.items), node.offset)
    if isinstance(node, Not):
        return normalize(node.operand)
    if isinstance(node, Compare):
        return Compare(NEGATED[node.op], node.left, node.right, node.offset)
    if isinstance(node, In):
        return In(node.operand, node.options, not node.negated, node.offset)
    if isinstance(node, IsNull):
        return IsNull(node.operand, not node.negated, node.offset)
    if isinstance(node, Literal) and isinstance(node.value, bool):
        return Literal(not node.value, node.offset)
    return Compare("==", node, Literal(False), _offset(node))


def normalize(node: Node) -> Node:
    """The condition in negation normal form; a bare boolean value ``x`` becomes ``x == true``."""
    if isinstance(node, Not):
        return negate(node.operand)
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(normalize(i) for i in node.items), node.offset)
    if isinstance(node, (Compare, In, IsNull)) or (isinstance(node, Literal) and isinstance(node.value, bool)):
        return node
    return Compare("==", node, Literal(True), _offset(node))


def to_text(node: Node) -> str:
    """Readable text of a tree (used in traces and explanations)."""
    if isinstance(node, Literal):
        return literal_text(node.value)
    if isinstance(node, ListLit):
        return "[" + ", ".join(to_text(i) for i in node.items) + "]"
    if isinstance(node, Name):
        return node.dotted
    if isinstance(node, Neg):
        return f"-{_wrap(node.operand)}"
    if isinstance(node, (Arith, Compare)):
        return f"{_wrap(node.left)} {node.op} {_wrap(node.right)}"
    if isinstance(node, In):
        return f"{to_text(node.operand)} {'not in' if node.negated else 'in'} {to_text(node.options)}"
    if isinstance(node, IsNull):
        return f"{to_text(node.operand)} is {'not ' if node.negated else ''}null"
    if isinstance(node, BoolOp):
        return f" {node.op} ".join(_wrap(i) for i in node.items)
    if isinstance(node, Not):
        return f"not {_wrap(node.operand)}"
    if isinstance(node, Func):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, If):
        return f"if {to_text(node.condition)} then {to_text(node.then)} else {to_text(node.otherwise)}"
    item = f", {to_text(node.item)}" if node.item is not None else ""
    where = f" where {to_text(node.where)}" if node.where is not None else ""
    named = f"{node.name} in " if node.name else ""
    return f"{node.func}({named}{to_text(node.source)}{item}{where})"


def _wrap(node: Node) -> str:
    text = to_text(node)
    return f"({text})" if isinstance(node, (Arith, BoolOp, Compare, If)) else text


def literal_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def format_decimal(value: Decimal) -> str:
    """A decimal as plain text: no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
