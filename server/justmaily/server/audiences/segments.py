"""The segment filter language: parse a marketer's filter text, and compile it to a WHERE clause on contacts.

The language is described for its users in docs/segments.md. `parse` turns text into an immutable
tree (or a `SegmentError` saying where and why it is wrong); `compile_filter` turns the tree into
SQL that gives the same contacts on SQLite and PostgreSQL.

Every condition compiles to a two-valued SQL expression (never NULL), so `not X` matches exactly the
contacts `X` does not match, despite SQL's three-valued logic.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from operator import eq, ge, gt, le, lt, ne
from types import MappingProxyType
from typing import Any, assert_never

from sqlalchemy import Boolean, Float, String, and_, bindparam, false, func, not_, or_, select
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.functions import FunctionElement

from justmaily.server.audiences.engagement import MESSAGE_EVENTS
from justmaily.server.audiences.models import Contact, ContactList, ListMember
from justmaily.shared.audiences import ConsentStatus
from justmaily.shared.delivery import EventKind

MAX_LENGTH = 4000  # characters of filter text (the API's SegmentFilter has the same limit)
MAX_DEPTH = 32  # nested parentheses and `not`s: keeps parsing and SQL compilation off deep recursion
MAX_VALUES = 1000  # values in one `in [...]`
MAX_DAYS = 36500  # `within` at most 100 years, so `now - within` can never overflow


class SegmentError(Exception):
    """A filter that cannot be used, with the place in its text where the problem is.

    `position` is a 0-based character offset; `line` and `column` count from 1.
    """

    def __init__(self, message: str, position: int, text: str) -> None:
        self.message = message
        self.position = position
        self.line, self.column = _line_and_column(text, position)
        super().__init__(f"line {self.line}, column {self.column}: {message}")


def _line_and_column(text: str, position: int) -> tuple[int, int]:
    return text.count("\n", 0, position) + 1, position - text.rfind("\n", 0, position)


# The tree ------------------------------------------------------------------------------------------


class Builtin(enum.StrEnum):
    """Contact columns a filter can compare; every other field name is a custom attribute."""

    EMAIL = "email"
    NAME = "name"
    CONSENT = "consent"
    CONSENT_SOURCE = "consent_source"


@dataclass(frozen=True, slots=True)
class Attribute:
    """A custom attribute: a key of the contact's `attributes` JSON object (case-sensitive)."""

    name: str


Field = Builtin | Attribute
# Numbers are floats: both backends then compare 10 and 10.0 alike.
Value = str | float | bool | None


class Operator(enum.StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    CONTAINS = "contains"
    STARTS_WITH = "starts with"
    ENDS_WITH = "ends with"


_ORDERING = frozenset({Operator.LT, Operator.LE, Operator.GT, Operator.GE})
_TEXT_MATCHING = frozenset({Operator.CONTAINS, Operator.STARTS_WITH, Operator.ENDS_WITH})


@dataclass(frozen=True, slots=True)
class Compare:
    """`field op value`; `= null` and `!= null` on an attribute mean `not has` and `has`."""

    field: Field
    operator: Operator
    value: Value


@dataclass(frozen=True, slots=True)
class OneOf:
    """`field in [...]`, or `field not in [...]` when `negated`; the values all have one type."""

    field: Field
    values: tuple[str, ...] | tuple[float, ...] | tuple[bool, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Has:
    """The field holds a value: not missing, not null, not empty text."""

    field: Field


@dataclass(frozen=True, slots=True)
class InList:
    name: str
    # Where the name is in the text, for "no list named ..." at compile time.
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Event:
    """At least one event of this kind, within the last `within` (None: ever)."""

    kind: EventKind
    within: timedelta | None


@dataclass(frozen=True, slots=True)
class CreatedBefore:
    moment: datetime  # created_at < moment


@dataclass(frozen=True, slots=True)
class CreatedAfter:
    moment: datetime  # created_at > moment (for a date: its last microsecond)


@dataclass(frozen=True, slots=True)
class CreatedWithin:
    within: timedelta


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expression


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expression, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expression, ...]


Condition = Compare | OneOf | Has | InList | Event | CreatedBefore | CreatedAfter | CreatedWithin
Expression = Condition | Not | And | Or


@dataclass(frozen=True, slots=True)
class Filter:
    """A parsed filter. Two filters are equal when their trees are, however they were written."""

    expression: Expression
    # Kept to turn compile-time positions (an unknown list's name) into lines and columns.
    text: str = field(default="", compare=False)


# Words ---------------------------------------------------------------------------------------------

_EVENTS: Mapping[str, EventKind] = {
    "sent": EventKind.SENT,
    "received": EventKind.SENT,
    "delivered": EventKind.DELIVERED,
    "opened": EventKind.OPENED,
    "clicked": EventKind.CLICKED,
    "bounced": EventKind.BOUNCED,
    "complained": EventKind.COMPLAINED,
    "unsubscribed": EventKind.UNSUBSCRIBED,
    "failed": EventKind.FAILED,
}
_EVENT_LIST = "opened, clicked, received (or sent), delivered, bounced, complained, unsubscribed, failed"
# Words that start a condition or join conditions: a bare field cannot have these names.
_KEYWORDS = frozenset({"and", "or", "not", "in", "has", "created", "true", "false", "null", *_EVENTS})
_OPERATOR_WORDS = ("contains", "starts with", "ends with", "in", "not in")
_OPERATOR_LIST = "=, !=, <, <=, >, >=, contains, starts with, ends with, in or not in"
_BUILTINS = {builtin.value: builtin for builtin in Builtin}
_CONSENT_VALUES = frozenset(status.value for status in ConsentStatus)
_CONSENT_LIST = ", ".join(f'"{status.value}"' for status in ConsentStatus)
_UNITS = {"day": 1, "days": 1, "hour": 24, "hours": 24}  # how many of the unit make a day


# Tokens --------------------------------------------------------------------------------------------


class _Kind(enum.Enum):
    WORD = "word"
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    OPERATOR = "operator"
    PUNCTUATION = "punctuation"
    END = "end"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str  # as written
    position: int
    value: str | float = ""  # a string's decoded text, a number's value

    def is_word(self, *words: str) -> bool:
        return self.kind is _Kind.WORD and self.text.lower() in words

    def is_punctuation(self, mark: str) -> bool:
        return self.kind is _Kind.PUNCTUATION and self.text == mark

    def describe(self) -> str:
        shown = self.text if len(self.text) <= 30 else self.text[:27] + "..."
        if self.kind is _Kind.END:
            return "the end of the filter"
        if self.kind is _Kind.STRING:
            return f"the text {shown}"
        if self.kind is _Kind.NUMBER:
            return f"the number {shown}"
        if self.kind is _Kind.DATE:
            return f"the date {shown}"
        return f'"{shown}"'


_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_OPERATOR_CHARACTERS = "=!<>"
_OPERATORS = {"=": Operator.EQ, "!=": Operator.NE, "<": Operator.LT, "<=": Operator.LE}
_OPERATORS |= {">": Operator.GT, ">=": Operator.GE}
_OPERATOR_HINTS = {
    "==": 'use "=" to compare',
    "<>": 'use "!=" for "not equal"',
    "=>": 'use ">="',
    "=<": 'use "<="',
    "!": 'use "not" to negate a condition, or "!=" for "not equal"',
}
_CHARACTER_HINTS = {
    "'": 'text goes in double quotes, as in "DE"',
    "&": 'use "and" to combine conditions',
    "|": 'use "or" to combine conditions',
}
_PUNCTUATION = "()[],."
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r"}


def _shown(character: str) -> str:
    return f'"{character}"' if character.isprintable() else f"U+{ord(character):04X}"


def _unusable(character: str) -> bool:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded for either database:
    # refusing them here keeps both backends identical and every failure a SegmentError.
    return character == "\0" or "\ud800" <= character <= "\udfff"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        character = text[i]
        if character.isspace():
            i += 1
        elif character == '"':
            i = _string(text, i, tokens)
        elif character.isalpha() or character == "_":
            start = i
            while i < len(text) and (text[i].isalnum() or text[i] == "_"):
                i += 1
            tokens.append(_Token(_Kind.WORD, text[start:i], start))
        elif match := _DATE.match(text, i):
            tokens.append(_Token(_Kind.DATE, match.group(), i))
            i = match.end()
        elif match := _NUMBER.match(text, i):
            number = float(match.group())
            if not math.isfinite(number):
                raise SegmentError(f"the number {match.group()} is too large", i, text)
            tokens.append(_Token(_Kind.NUMBER, match.group(), i, number))
            i = match.end()
        elif character in _OPERATOR_CHARACTERS:
            i = _operator(text, i, tokens)
        elif character in _PUNCTUATION:
            tokens.append(_Token(_Kind.PUNCTUATION, character, i))
            i += 1
        else:
            hint = _CHARACTER_HINTS.get(character)
            raise SegmentError(
                f"unexpected character {_shown(character)}" + (f": {hint}" if hint else ""), i, text
            )
    tokens.append(_Token(_Kind.END, "", len(text)))
    return tokens


def _operator(text: str, start: int, tokens: list[_Token]) -> int:
    """Read the comparison operator at `start` into `tokens`; return the offset after it."""
    end = start
    # The whole run of operator characters, so "==" is reported as itself rather than as "=" "=".
    while end < len(text) and text[end] in _OPERATOR_CHARACTERS:
        end += 1
    operator = text[start:end]
    if operator not in _OPERATORS:
        hint = _OPERATOR_HINTS.get(operator, f"operators are {_OPERATOR_LIST}")
        raise SegmentError(f'unknown operator "{operator}": {hint}', start, text)
    tokens.append(_Token(_Kind.OPERATOR, operator, start))
    return end


def _string(text: str, start: int, tokens: list[_Token]) -> int:
    """Read the double-quoted string at `start` into `tokens`; return the offset after it."""
    decoded: list[str] = []
    i = start + 1
    while i < len(text):
        character = text[i]
        if character == '"':
            tokens.append(_Token(_Kind.STRING, text[start : i + 1], start, "".join(decoded)))
            return i + 1
        at = i
        if character == "\\":
            escape = text[i + 1 : i + 2]
            if not escape:
                break
            if escape == "u":
                digits = text[i + 2 : i + 6]
                if len(digits) < 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                    raise SegmentError(r'"\u" must be followed by 4 hexadecimal digits', i, text)
                character = chr(int(digits, 16))
                i += 6
            elif escape in _ESCAPES:
                character = _ESCAPES[escape]
                i += 2
            else:
                raise SegmentError(
                    f'unknown escape "\\{escape}" in text: use \\" for a quote and \\\\ for a backslash',
                    i,
                    text,
                )
        else:
            i += 1
        if _unusable(character):
            raise SegmentError(f"text cannot contain the character {_shown(character)}", at, text)
        decoded.append(character)
    raise SegmentError('this text has no closing double quote (")', start, text)


# Parsing -------------------------------------------------------------------------------------------


def parse(text: str) -> Filter:
    """Parse filter text; raises `SegmentError` (and nothing else) for any text that is not a filter."""
    if len(text) > MAX_LENGTH:
        raise SegmentError(
            f"the filter is {len(text)} characters long; the limit is {MAX_LENGTH}", MAX_LENGTH, text
        )
    return Filter(_Parser(text).filter(), text)


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


class _Parser:
    """Recursive descent over the grammar in docs/segments.md; `depth` counts `(` and `not`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    # Helpers

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind is not _Kind.END:
            self.index += 1
        return token

    def previous(self) -> _Token:
        return self.tokens[self.index - 1]

    def error(self, message: str, token: _Token) -> SegmentError:
        return SegmentError(message, token.position, self.text)

    def expected(self, what: str, hint: str = "") -> SegmentError:
        """'expected X after <previous token>, found <current token>[; hint]'."""
        found = self.peek()
        after = f" after {self.previous().describe()}" if self.index > 0 else ""
        return self.error(
            f"expected {what}{after}, found {found.describe()}" + (f"; {hint}" if hint else ""), found
        )

    def deeper(self, depth: int) -> int:
        if depth >= MAX_DEPTH:
            raise self.error(
                f'the filter is nested too deeply: at most {MAX_DEPTH} levels of parentheses and "not"',
                self.peek(),
            )
        return depth + 1

    # Grammar

    def filter(self) -> Expression:
        if self.peek().kind is _Kind.END:
            raise self.error('the filter is empty: write a condition, such as country = "DE"', self.peek())
        expression = self.disjunction(0)
        end = self.peek()
        if end.is_punctuation(")"):
            raise self.error('this ")" has no matching "("', end)
        if end.kind is not _Kind.END:
            raise self.error(f'expected "and" or "or" before {end.describe()}', end)
        return expression

    def disjunction(self, depth: int) -> Expression:
        operands = [self.conjunction(depth)]
        while self.peek().is_word("or"):
            self.advance()
            operands.append(self.conjunction(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self, depth: int) -> Expression:
        operands = [self.unary(depth)]
        while self.peek().is_word("and"):
            self.advance()
            operands.append(self.unary(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self, depth: int) -> Expression:
        token = self.peek()
        if token.is_word("not"):
            depth = self.deeper(depth)
            self.advance()
            return Not(self.unary(depth))
        if token.is_punctuation("("):
            depth = self.deeper(depth)
            self.advance()
            inner = self.disjunction(depth)
            if not self.peek().is_punctuation(")"):
                line, column = _line_and_column(self.text, token.position)
                raise self.expected(
                    '"and", "or" or ")"', f'the "(" at line {line}, column {column} is not closed'
                )
            self.advance()
            return inner
        return self.condition()

    def condition(self) -> Expression:
        token = self.peek()
        if token.is_word("has"):
            self.advance()
            subject = self.field()
            if subject is Builtin.CONSENT:
                raise self.error(
                    'every contact has a consent status: compare it, for example: consent = "pending"', token
                )
            return Has(subject)
        if token.is_word("in"):
            self.advance()
            if not self.peek().is_word("list"):
                raise self.expected('"list"', 'for example: in list "Newsletter"')
            self.advance()
            name = self.peek()
            if name.kind is not _Kind.STRING:
                raise self.expected("the list's name in double quotes", 'for example: in list "Newsletter"')
            self.advance()
            return InList(str(name.value), name.position)
        if token.is_word("created"):
            return self.created()
        if token.kind is _Kind.WORD and token.text.lower() in _EVENTS:
            return self.event()
        if token.is_word("and", "or") or token.kind is _Kind.END or token.is_punctuation(")"):
            raise self.expected("a condition")
        return self.comparison(self.field())

    def field(self) -> Field:
        token = self.peek()
        if token.kind is _Kind.STRING:
            self.advance()
            return self._attribute(token)
        if token.kind is not _Kind.WORD:
            raise self.expected("a field", 'for example: country, email or "company size"')
        word = token.text.lower()
        if word == "attributes" and self.tokens[self.index + 1].is_punctuation("."):
            self.advance()
            self.advance()
            name = self.peek()
            if name.kind not in (_Kind.WORD, _Kind.STRING):
                raise self.expected(
                    "an attribute name", 'for example: attributes.country or attributes."company size"'
                )
            self.advance()
            return self._attribute(name)
        if word in _BUILTINS:
            self.advance()
            return _BUILTINS[word]
        if word in _KEYWORDS:
            raise self.error(
                f'"{token.text}" is a keyword, not a field: for an attribute of this name write '
                f"attributes.{token.text}",
                token,
            )
        self.advance()
        return Attribute(token.text)

    def _attribute(self, token: _Token) -> Attribute:
        name = str(token.value) if token.kind is _Kind.STRING else token.text
        if not name:
            raise self.error("an attribute name cannot be empty", token)
        return Attribute(name)

    def comparison(self, subject: Field) -> Expression:
        token = self.peek()
        subject_text = self.previous().text
        if token.kind is _Kind.OPERATOR:
            self.advance()
            return self._compare(subject, _OPERATORS[token.text], token)
        if token.is_word("contains"):
            self.advance()
            return self._compare(subject, Operator.CONTAINS, token)
        if token.is_word("starts", "ends"):
            self.advance()
            if not self.peek().is_word("with"):
                raise self.expected('"with"')
            self.advance()
            operator = Operator.STARTS_WITH if token.is_word("starts") else Operator.ENDS_WITH
            return self._compare(subject, operator, token)
        if token.is_word("in"):
            self.advance()
            return self._one_of(subject, negated=False)
        if token.is_word("not"):
            self.advance()
            if not self.peek().is_word("in"):
                raise self.expected(
                    '"in"',
                    f'to negate other conditions put "not" before them: not {subject_text} contains "x"',
                )
            self.advance()
            return self._one_of(subject, negated=True)
        if token.is_word("within", "ever") and isinstance(subject, Attribute):
            event = self.previous()
            raise self.error(
                f'"{event.text}" is not an event{_did_you_mean(event.text.lower(), list(_EVENTS))}; '
                f"events are {_EVENT_LIST}",
                event,
            )
        if token.is_word("is"):
            raise self.error('use "=" to compare (and "!=" for "is not")', token)
        if token.kind is _Kind.WORD and (hint := _did_you_mean(token.text.lower(), _OPERATOR_WORDS)):
            raise self.error(f"unknown operator {token.describe()}{hint}", token)
        raise self.expected("an operator", f"operators are {_OPERATOR_LIST}")

    def value(self) -> tuple[Value, _Token]:
        token = self.peek()
        if token.kind is _Kind.STRING:
            self.advance()
            return str(token.value), token
        if token.kind is _Kind.NUMBER:
            self.advance()
            assert isinstance(token.value, float)
            return token.value, token
        if token.is_word("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[token.text.lower()], token
        if token.kind is _Kind.DATE:
            raise self.error(
                'dates are used with "created"; to compare an attribute holding a date, '
                f'quote it: "{token.text}"',
                token,
            )
        if token.kind is _Kind.WORD and token.text.lower() not in _KEYWORDS:
            raise self.error(f'text values go in double quotes: "{token.text}"', token)
        if token.is_punctuation("["):
            raise self.error('a list of values needs "in", for example: plan in ["pro", "team"]', token)
        raise self.expected("a value", "write text in double quotes, a number, true, false or null")

    def _compare(self, subject: Field, operator: Operator, operator_token: _Token) -> Expression:
        value, token = self.value()
        name = self._field_text(subject)
        if operator in _TEXT_MATCHING and not isinstance(value, str):
            raise self.error(f'"{operator}" needs text in double quotes', token)
        if subject is Builtin.CONSENT:
            if operator not in (Operator.EQ, Operator.NE):
                raise self.error("consent can only be compared with =, !=, in and not in", operator_token)
            self._check_consent(value, token)
        elif isinstance(subject, Builtin):
            if value is None:
                raise self.error(f"{name} is never null: to find empty ones write: not has {name}", token)
            if not isinstance(value, str):
                raise self.error(
                    f'{name} is text: put the value in double quotes, as in "{token.text}"', token
                )
        elif (value is None or isinstance(value, bool)) and operator not in (Operator.EQ, Operator.NE):
            raise self.error(f'{token.text} can only be compared with "=" and "!="', operator_token)
        return Compare(subject, operator, value)

    def _one_of(self, subject: Field, *, negated: bool) -> Expression:
        if not self.peek().is_punctuation("["):
            raise self.expected('"["', 'list the values in brackets, for example: plan in ["pro", "team"]')
        self.advance()
        values: list[Any] = []
        while True:
            if len(values) == MAX_VALUES:
                raise self.error(f"a list can hold at most {MAX_VALUES} values", self.peek())
            value, token = self.value()
            if value is None:
                raise self.error(
                    "null cannot be in a list: to find missing values write: "
                    f"not has {self._field_text(subject)}",
                    token,
                )
            if values and type(value) is not type(values[0]):
                raise self.error(
                    "the values of a list must all be text, all numbers, or all true/false", token
                )
            if isinstance(subject, Builtin):
                if not isinstance(value, str):
                    raise self.error(f"{subject.value} is text: put the value in double quotes", token)
                if subject is Builtin.CONSENT:
                    self._check_consent(value, token)
            values.append(value)
            if self.peek().is_punctuation(","):
                self.advance()
                if self.peek().is_punctuation("]"):  # a trailing comma is harmless
                    break
            elif self.peek().is_punctuation("]"):
                break
            else:
                raise self.expected('"," or "]"')
        self.advance()
        return OneOf(subject, tuple(values), negated)

    def _check_consent(self, value: Value, token: _Token) -> None:
        if not isinstance(value, str) or value not in _CONSENT_VALUES:
            raise self.error(f"consent is one of {_CONSENT_LIST}; found {token.describe()}", token)

    @staticmethod
    def _field_text(subject: Field) -> str:
        return subject.value if isinstance(subject, Builtin) else subject.name

    def duration(self) -> timedelta:
        token = self.peek()
        if token.kind is not _Kind.NUMBER or not token.text.isdigit():
            raise self.expected("a whole number", "for example: within 30 days")
        self.advance()
        unit = self.peek()
        if not unit.is_word(*_UNITS):
            raise self.expected('"days" or "hours"')
        self.advance()
        per_day = _UNITS[unit.text.lower()]
        amount = int(token.text)
        if not 1 <= amount <= MAX_DAYS * per_day:
            raise self.error(
                f"the number of {'days' if per_day == 1 else 'hours'} must be between 1 and "
                f"{MAX_DAYS * per_day} (100 years)",
                token,
            )
        return timedelta(days=amount) if per_day == 1 else timedelta(hours=amount)

    def event(self) -> Expression:
        kind = _EVENTS[self.advance().text.lower()]
        if self.peek().is_word("ever"):
            self.advance()
            return Event(kind, None)
        if self.peek().is_word("within"):
            self.advance()
            return Event(kind, self.duration())
        raise self.expected('"within" or "ever"', f"for example: {self.previous().text} within 30 days")

    def created(self) -> Expression:
        self.advance()
        token = self.peek()
        if token.is_word("within"):
            self.advance()
            return CreatedWithin(self.duration())
        if not token.is_word("before", "after"):
            raise self.expected('"before", "after" or "within"', "for example: created after 2026-01-31")
        self.advance()
        moment = self.peek()
        if moment.kind is not _Kind.DATE:
            raise self.expected("a date written as YYYY-MM-DD", "for example: created after 2026-01-31")
        self.advance()
        first, last = self._moment(moment)
        return CreatedBefore(first) if token.is_word("before") else CreatedAfter(last)

    def _moment(self, token: _Token) -> tuple[datetime, datetime]:
        """The first and last instants a date or time stands for, in UTC (naive times are UTC)."""
        try:
            if "T" not in token.text:
                day = date.fromisoformat(token.text)
                return datetime.combine(day, time.min, UTC), datetime.combine(day, time.max, UTC)
            instant = datetime.fromisoformat(token.text)
            instant = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
        except (ValueError, OverflowError):
            raise self.error(f"{token.text} is not a real date and time", token) from None
        return instant, instant


# Compiling -----------------------------------------------------------------------------------------
# JSON access differs between the backends, so attribute values are read through small SQL
# constructs compiled per dialect. Each yields NULL unless the attribute holds a JSON value of the
# wanted type: comparisons never mix types, and PostgreSQL never casts "abc" to a number.
#
# SQLite reads keys through json_each, not a json_extract path: a path compares the key as written
# in the stored JSON, escapes included ("Gr\u00f6\u00dfe" never matches Größe), and cannot name a
# key holding a double quote. json_each decodes keys; it costs about 1.5x a path lookup.


class _AttributeFunction(FunctionElement[Any]):
    """Base of the attribute readers: arguments are the JSON column and the key (a bound parameter)."""

    inherit_cache = True


class _AttributeText(_AttributeFunction):
    type = String()
    inherit_cache = True


class _AttributeNumber(_AttributeFunction):
    type = Float()
    inherit_cache = True


class _AttributeBoolean(_AttributeFunction):
    type = Boolean()
    inherit_cache = True


class _AttributePresent(_AttributeFunction):
    """True when the attribute is there, not null and not empty text; never NULL."""

    type = Boolean()
    inherit_cache = True


class _BinaryOrder(FunctionElement[Any]):
    """Its text argument, ordered by code point: PostgreSQL's default collation is the locale's."""

    type = String()
    inherit_cache = True


class _AsciiLower(FunctionElement[Any]):
    """Its text argument with A-Z lower-cased and nothing else, as SQLite's lower() does."""

    type = String()
    inherit_cache = True


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(_AttributeFunction)
@compiles(_BinaryOrder)
@compiles(_AsciiLower)
def _unsupported(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"segment filters compile for SQLite and PostgreSQL, not {compiler.dialect.name}")


_POSTGRESQL_ATTRIBUTE = {
    _AttributeText: "CASE WHEN json_typeof({c} -> {k}) = 'string' THEN {c} ->> {k} END",
    _AttributeNumber: (
        "CASE WHEN json_typeof({c} -> {k}) = 'number' THEN CAST({c} ->> {k} AS DOUBLE PRECISION) END"
    ),
    _AttributeBoolean: "CASE WHEN json_typeof({c} -> {k}) = 'boolean' THEN ({c} ->> {k}) = 'true' END",
    # ->> gives NULL for a missing key and for JSON null, the text of anything else.
    _AttributePresent: "(coalesce({c} ->> {k}, '') <> '')",
}
_SQLITE_ATTRIBUTE = {
    _AttributeText: "(SELECT CASE WHEN type = 'text' THEN atom END FROM json_each({c}) WHERE key = {k})",
    _AttributeNumber: (
        "(SELECT CASE WHEN type IN ('integer', 'real') THEN CAST(atom AS REAL) END "
        "FROM json_each({c}) WHERE key = {k})"
    ),
    _AttributeBoolean: (
        "(SELECT CASE type WHEN 'true' THEN 1 WHEN 'false' THEN 0 END FROM json_each({c}) WHERE key = {k})"
    ),
    _AttributePresent: (
        "EXISTS (SELECT 1 FROM json_each({c}) WHERE key = {k} "
        "AND type <> 'null' AND NOT (type = 'text' AND atom = ''))"
    ),
}


@compiles(_AttributeFunction, "postgresql")
def _attribute_postgresql(element: _AttributeFunction, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _arguments(element, compiler, **kw)
    return _POSTGRESQL_ATTRIBUTE[type(element)].format(c=column, k=key)


@compiles(_AttributeFunction, "sqlite")
def _attribute_sqlite(element: _AttributeFunction, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _arguments(element, compiler, **kw)
    return _SQLITE_ATTRIBUTE[type(element)].format(c=column, k=key)


@compiles(_BinaryOrder, "postgresql")
def _binary_postgresql(element: _BinaryOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = _arguments(element, compiler, **kw)
    return f'(({text}) COLLATE "C")'


@compiles(_BinaryOrder, "sqlite")
def _binary_sqlite(element: _BinaryOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = _arguments(element, compiler, **kw)
    return text  # SQLite's BINARY collation already orders UTF-8 by code point


@compiles(_AsciiLower, "postgresql")
def _ascii_lower_postgresql(element: _AsciiLower, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = _arguments(element, compiler, **kw)
    # Not lower(): it folds by the database's locale (É to é), which SQLite's lower() never does.
    return f"translate({text}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"


@compiles(_AsciiLower, "sqlite")
def _ascii_lower_sqlite(element: _AsciiLower, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = _arguments(element, compiler, **kw)
    return f"lower({text})"


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NO_LISTS: Mapping[str, uuid.UUID] = MappingProxyType({})


def referenced_lists(filter: Filter) -> set[str]:
    """The names of the lists a filter refers to, so the caller can load their ids."""
    names: set[str] = set()
    pending: list[Expression] = [filter.expression]
    while pending:
        match pending.pop():
            case InList(name):
                names.add(name)
            case Not(operand):
                pending.append(operand)
            case And(operands) | Or(operands):
                pending.extend(operands)
            case _:
                pass
    return names


def compile_filter(
    filter: Filter,
    workspace_id: uuid.UUID,
    now: datetime,
    lists: Mapping[str, uuid.UUID] = _NO_LISTS,
    email_index: Callable[[str], str] | None = None,
) -> ColumnElement[bool]:
    """The WHERE clause selecting the workspace's contacts that match `filter`.

    Addresses are sealed: `email_index` gives an address's blind index (the repository's
    `email_key` under the workspace's index key), so `email = …` and `email in […]` compare
    indexes; a filter comparing addresses needs it.

    `lists` maps list names to ids within the workspace; it must hold every name of
    `referenced_lists(filter)` (an unknown name raises SegmentError). Pass all the workspace's
    lists to get "did you mean" hints. `now` (timezone-aware) anchors `within`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    compiler = _Compiler(filter.text, workspace_id, now, lists, email_index)
    return and_(Contact.workspace_id == workspace_id, compiler.expression(filter.expression))


class _Compiler:
    def __init__(
        self,
        text: str,
        workspace_id: uuid.UUID,
        now: datetime,
        lists: Mapping[str, uuid.UUID],
        email_index: Callable[[str], str] | None,
    ) -> None:
        self.text = text
        self.workspace_id = workspace_id
        self.now = now
        self.lists = lists
        self.email_index = email_index

    def _address_index(self, value: str) -> str:
        if self.email_index is None:
            raise ValueError("compile_filter needs email_index to compare addresses")
        return self.email_index(value)

    def _sealed_address(self) -> SegmentError:
        return SegmentError(
            "addresses are stored encrypted: compare email only with =, != or in [...]",
            max(self.text.lower().find("email"), 0),
            self.text,
        )

    def expression(self, node: Expression) -> ColumnElement[bool]:
        match node:
            case And(operands):
                return and_(*(self.expression(operand) for operand in operands))
            case Or(operands):
                return or_(*(self.expression(operand) for operand in operands))
            case Not(operand):
                return not_(self.expression(operand))
            case _:
                return self.condition(node)

    def condition(self, node: Condition) -> ColumnElement[bool]:
        match node:
            case Compare():
                return self.compare(node)
            case OneOf():
                return self.one_of(node)
            case Has(subject):
                return self.has(subject)
            case InList():
                return self.in_list(node)
            case Event(kind, within):
                return self.event(kind, within)
            case _:
                return self.created(node)

    def created(self, node: CreatedBefore | CreatedAfter | CreatedWithin) -> ColumnElement[bool]:
        match node:
            case CreatedBefore(moment):
                return Contact.created_at < moment
            case CreatedAfter(moment):
                return Contact.created_at > moment
            case CreatedWithin(within):
                return Contact.created_at >= self.now - within
            case _:
                assert_never(node)

    def has(self, subject: Field) -> ColumnElement[bool]:
        if isinstance(subject, Attribute):
            return _AttributePresent(Contact.attributes, _key(subject.name))
        return _builtin_column(subject) != ""

    def compare(self, node: Compare) -> ColumnElement[bool]:
        value = node.value
        if isinstance(node.field, Builtin):
            if node.field is Builtin.CONSENT:
                assert isinstance(value, str)
                status = ConsentStatus(value)
                return (
                    Contact.consent == status if node.operator is Operator.EQ else Contact.consent != status
                )
            assert isinstance(value, str)
            if node.field is Builtin.EMAIL:
                # email_key is the blind index of the lower-cased address: equal indexes are
                # equal addresses, ignoring case; nothing else can be compared in SQL.
                if node.operator not in (Operator.EQ, Operator.NE):
                    raise self._sealed_address()
                index = self._address_index(value)
                return (
                    Contact.email_key == index if node.operator is Operator.EQ else Contact.email_key != index
                )
            return _apply(_builtin_column(node.field), node.operator, value)
        key = _key(node.field.name)
        if value is None:  # `= null` is "has no value", `!= null` is "has a value"
            present = _AttributePresent(Contact.attributes, key)
            return present if node.operator is Operator.NE else not_(present)
        return _definitely(_apply(_extract(key, value), node.operator, value))

    def one_of(self, node: OneOf) -> ColumnElement[bool]:
        values: Sequence[Any] = node.values
        if isinstance(node.field, Attribute):
            extracted = _extract(_key(node.field.name), values[0])
            return _definitely(extracted.not_in(values) if node.negated else extracted.in_(values))
        column: SQLCoreOperations[Any]
        if node.field is Builtin.CONSENT:
            column, values = Contact.consent, [ConsentStatus(value) for value in values]
        elif node.field is Builtin.EMAIL:
            column, values = Contact.email_key, [self._address_index(str(value)) for value in values]
        else:
            column = _builtin_column(node.field)
        return column.not_in(values) if node.negated else column.in_(values)

    def in_list(self, node: InList) -> ColumnElement[bool]:
        list_id = self.lists.get(node.name)
        if list_id is None:
            hint = _did_you_mean(node.name, list(self.lists)) if self.lists else ""
            raise SegmentError(f'no list named "{node.name}"{hint}', node.position, self.text)
        # The join to contact_lists keeps a list id from another workspace from ever matching.
        member = (
            select(ListMember.contact_id)
            .join(ContactList, ContactList.id == ListMember.list_id)
            .where(
                ListMember.list_id == list_id,
                ListMember.contact_id == Contact.id,
                ContactList.workspace_id == self.workspace_id,
            )
        )
        return member.exists()

    def event(self, kind: EventKind, within: timedelta | None) -> ColumnElement[bool]:
        events = MESSAGE_EVENTS.c
        happened = select(events.id).where(
            events.contact_id == Contact.id,
            events.workspace_id == self.workspace_id,
            events.kind == kind,
        )
        if within is not None:
            happened = happened.where(events.occurred_at >= self.now - within)
        return happened.exists()


def _key(name: str) -> Any:
    return bindparam(None, name, type_=String())


def _definitely(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """`condition` with NULL read as false: an attribute missing, or of another type, never matches.

    Without it `not (seats > 10)` would be NULL, not true, for a contact without seats.
    """
    return func.coalesce(condition, false())


def _extract(key: Any, value: Value) -> ColumnElement[Any]:
    """The attribute read as the type of `value` (NULL when it holds another type)."""
    if isinstance(value, bool):
        return _AttributeBoolean(Contact.attributes, key)
    if isinstance(value, float):
        return _AttributeNumber(Contact.attributes, key)
    return _AttributeText(Contact.attributes, key)


def _builtin_column(builtin: Builtin) -> SQLCoreOperations[Any]:
    columns: dict[Builtin, SQLCoreOperations[Any]] = {
        Builtin.EMAIL: Contact.email_key,
        Builtin.NAME: Contact.name,
        Builtin.CONSENT: Contact.consent,
        Builtin.CONSENT_SOURCE: Contact.consent_source,
    }
    return columns[builtin]


_COMPARISONS: Mapping[Operator, Callable[[Any, Any], ColumnElement[bool]]] = {
    Operator.EQ: eq,
    Operator.NE: ne,
    Operator.LT: lt,
    Operator.LE: le,
    Operator.GT: gt,
    Operator.GE: ge,
    Operator.CONTAINS: lambda text, pattern: text.contains(pattern, autoescape=True),
    Operator.STARTS_WITH: lambda text, pattern: text.startswith(pattern, autoescape=True),
    Operator.ENDS_WITH: lambda text, pattern: text.endswith(pattern, autoescape=True),
}


def _apply(
    column: SQLCoreOperations[Any], comparison: Operator, value: str | float | bool, *, folded: bool = False
) -> ColumnElement[bool]:
    """`column comparison value`: text ordered by code point, and matched ignoring ASCII case.

    `folded`: the column is lower-case already, and `value` was lowered to match (email_key).
    """
    if comparison in _TEXT_MATCHING and not folded:
        assert isinstance(value, str)
        column, value = _AsciiLower(column), value.translate(_ASCII_LOWER)
    elif comparison in _ORDERING and isinstance(value, str):
        column = _BinaryOrder(column)
    return _COMPARISONS[comparison](column, value)
