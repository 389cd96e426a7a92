"""The segment filter language: what parses to what, every error's wording and place, and the
contacts each filter selects on SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Set
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import repository
from justmaily.server.audiences.engagement import MESSAGE_EVENTS
from justmaily.server.audiences.models import Contact, ContactList, ListMember
from justmaily.server.audiences.segments import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_VALUES,
    And,
    Attribute,
    Builtin,
    Compare,
    CreatedAfter,
    CreatedBefore,
    CreatedWithin,
    Event,
    Filter,
    Has,
    InList,
    Not,
    OneOf,
    Operator,
    Or,
    SegmentError,
    compile_filter,
    parse,
    referenced_lists,
)
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import MessageEvent
from justmaily.server.identity.models import Workspace
from justmaily.server.protection.fields import address_index, row_identity, seal_text
from justmaily.server.protection.keyring import workspace_keys
from justmaily.server.settings import Settings
from justmaily.shared.audiences import ConsentStatus
from justmaily.shared.delivery import EventKind

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
WORKSPACE = uuid.UUID(int=1)


def expression(text: str) -> Any:
    return parse(text).expression


def country(value: str) -> Compare:
    return Compare(Attribute("country"), Operator.EQ, value)


# --- Parsing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ('country = "DE"', country("DE")),
        # `and` binds tighter than `or`; `not` tighter than both.
        (
            'country = "DE" or country = "AT" and not country = "CH"',
            Or((country("DE"), And((country("AT"), Not(country("CH")))))),
        ),
        (
            '(country = "DE" or country = "AT") and has vat',
            And((Or((country("DE"), country("AT"))), Has(Attribute("vat")))),
        ),
        (
            'COUNTRY = "DE" AND Has vat',
            And((Compare(Attribute("COUNTRY"), Operator.EQ, "DE"), Has(Attribute("vat")))),
        ),
        ('Email ends with "@x.org"', Compare(Builtin.EMAIL, Operator.ENDS_WITH, "@x.org")),
        ('name starts with "A"', Compare(Builtin.NAME, Operator.STARTS_WITH, "A")),
        ('consent_source contains "form"', Compare(Builtin.CONSENT_SOURCE, Operator.CONTAINS, "form")),
        ('"company size" >= 10', Compare(Attribute("company size"), Operator.GE, 10.0)),
        ('attributes.name = "x"', Compare(Attribute("name"), Operator.EQ, "x")),
        ('attributes."opened" = true', Compare(Attribute("opened"), Operator.EQ, True)),
        ("score > -1.5e2", Compare(Attribute("score"), Operator.GT, -150.0)),
        ("vip != false", Compare(Attribute("vip"), Operator.NE, False)),
        ("x = null", Compare(Attribute("x"), Operator.EQ, None)),
        ('x = "q\\"b\\\\s\\u00e9\\n"', Compare(Attribute("x"), Operator.EQ, 'q"b\\sé\n')),
        ('plan in ["pro", "team",]', OneOf(Attribute("plan"), ("pro", "team"))),
        ("seats not in [1, 2]", OneOf(Attribute("seats"), (1.0, 2.0), negated=True)),
        ('consent in ["pending"]', OneOf(Builtin.CONSENT, ("pending",))),
        ('in list "Newsletter"', InList("Newsletter")),
        ('not in list "Customers"', Not(InList("Customers"))),
        ("opened within 30 days", Event(EventKind.OPENED, timedelta(days=30))),
        ("clicked within 1 hour", Event(EventKind.CLICKED, timedelta(hours=1))),
        ("received ever", Event(EventKind.SENT, None)),
        ("created within 7 days", CreatedWithin(timedelta(days=7))),
        ("created before 2026-01-31", CreatedBefore(datetime(2026, 1, 31, tzinfo=UTC))),
        ("created after 2026-01-31", CreatedAfter(datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC))),
        ("created after 2026-01-31T10:30", CreatedAfter(datetime(2026, 1, 31, 10, 30, tzinfo=UTC))),
        ("created before 2026-01-31T12:30+02:00", CreatedBefore(datetime(2026, 1, 31, 10, 30, tzinfo=UTC))),
        ("not not has x", Not(Not(Has(Attribute("x"))))),
    ],
)
def test_filters_parse_to_their_tree(text: str, tree: Any) -> None:
    assert expression(text) == tree


def test_a_filter_keeps_its_text_but_compares_by_meaning() -> None:
    spaced = parse('country   =  "DE"\n')
    assert spaced.text == 'country   =  "DE"\n'
    assert spaced == parse('country = "DE"') == Filter(country("DE"))


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("", "the filter is empty", 1),
        ("   ", "the filter is empty", 4),
        ('country = and plan = "pro"', 'expected a value after "=", found "and"', 11),
        ("country = ", 'expected a value after "=", found the end of the filter', 11),
        ('country is "DE"', 'use "=" to compare', 9),
        ('country like "DE"', 'expected an operator after "country", found "like"', 9),
        ('name contians "x"', 'unknown operator "contians" (did you mean "contains"?)', 6),
        ("seats == 1", 'unknown operator "==": use "="', 7),
        ("seats <> 1", 'unknown operator "<>": use "!="', 7),
        ('country = "DE', 'this text has no closing double quote (")', 11),
        ('country = "D\\E"', 'unknown escape "\\E"', 13),
        ('country = "\\u12"', '"\\u" must be followed by 4 hexadecimal digits', 12),
        ('country = "\\u0000"', "text cannot contain the character U+0000", 12),
        ("country = 'DE'", "text goes in double quotes", 11),
        ("country = DE", 'text values go in double quotes: "DE"', 11),
        ("created after 2026-02-30", "2026-02-30 is not a real date and time", 15),
        ("created after 2026-2-3", "expected a date written as YYYY-MM-DD", 15),
        ("created = 2026-01-01", 'expected "before", "after" or "within" after "created"', 9),
        ("renewal < 2026-01-01", 'quote it: "2026-01-01"', 11),
        ("openend within 3 days", '"openend" is not an event (did you mean "opened"?)', 1),
        ("opened within 30", 'expected "days" or "hours" after the number 30', 17),
        ("opened within 2.5 days", "expected a whole number", 15),
        ("opened within 0 days", "between 1 and 36500", 15),
        ("opened lately", 'expected "within" or "ever" after "opened"', 8),
        ('country = "DE" plan = "pro"', 'expected "and" or "or" before "plan"', 16),
        ('country = "DE")', 'this ")" has no matching "("', 15),
        ('(country = "DE"', 'the "(" at line 1, column 1 is not closed', 16),
        ("()", 'expected a condition after "(", found ")"', 2),
        ('country = "DE" and', 'expected a condition after "and", found the end of the filter', 19),
        ("seats > 1e999", "the number 1e999 is too large", 9),
        ("seats > 1" + "0" * 400, "is too large", 9),
        ("vip < true", 'true can only be compared with "=" and "!="', 5),
        ("x > null", 'null can only be compared with "=" and "!="', 3),
        ("seats contains 1", '"contains" needs text in double quotes', 16),
        ('consent = "subscribd"', 'consent is one of "pending", "subscribed", "unsubscribed"', 11),
        ('consent > "pending"', "consent can only be compared with =, !=, in and not in", 9),
        ("name = 5", "name is text: put the value in double quotes", 8),
        ("name = null", "name is never null", 8),
        ("has consent", "every contact has a consent status", 1),
        ('x in ["a", 1]', "must all be text, all numbers, or all true/false", 12),
        ("x in [null]", "null cannot be in a list", 7),
        ("x in []", 'expected a value after "["', 7),
        ('x in "a"', 'expected "[" after "in"', 6),
        ('x in ["a" "b"]', 'expected "," or "]"', 11),
        ('x = ["a"]', 'a list of values needs "in"', 5),
        ('name not contains "x"', 'expected "in" after "not"', 10),
        ('in "Newsletter"', 'expected "list" after "in"', 4),
        ("in list Newsletter", "expected the list's name in double quotes", 9),
        ('and = "x"', 'expected a condition, found "and"', 1),
        ('has = "x"', 'expected a field after "has", found "="', 5),
        (
            "has opened",
            '"opened" is a keyword, not a field: for an attribute of this name write attributes.opened',
            5,
        ),
        ('"" = "x"', "an attribute name cannot be empty", 1),
        ("attributes. = 1", 'expected an attribute name after "."', 13),
        ("seats & 1", 'unexpected character "&": use "and"', 7),
        ("seats @ 1", 'unexpected character "@"', 7),
        ("seats ! 1", 'unknown operator "!"', 7),
    ],
)
def test_bad_filters_say_what_and_where(text: str, message: str, column: int) -> None:
    with pytest.raises(SegmentError) as caught:
        parse(text)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.column) == (1, column)
    assert caught.value.position == column - 1


def test_errors_read_with_their_line_and_column() -> None:
    with pytest.raises(SegmentError) as caught:
        parse('country = "DE"\n  and (plan = )')
    error = caught.value
    assert (error.position, error.line, error.column) == (29, 2, 15)
    assert str(error) == (
        'line 2, column 15: expected a value after "=", found ")"; '
        "write text in double quotes, a number, true, false or null"
    )


def test_limits() -> None:
    parse("x = " + " " * (MAX_LENGTH - 5) + "1")
    with pytest.raises(SegmentError, match=f"the limit is {MAX_LENGTH}") as caught:
        parse("x = " + " " * (MAX_LENGTH - 4) + "1")
    assert caught.value.position == MAX_LENGTH

    parse("(" * (MAX_DEPTH - 1) + "not x = 1" + ")" * (MAX_DEPTH - 1))
    with pytest.raises(SegmentError, match="nested too deeply") as caught:
        parse("(" * MAX_DEPTH + "not x = 1" + ")" * MAX_DEPTH)
    assert caught.value.position == MAX_DEPTH
    with pytest.raises(SegmentError, match="nested too deeply"):
        parse("not " * (MAX_DEPTH + 1) + "x = 1")

    parse(f"x in [{', '.join(['1'] * MAX_VALUES)}]")
    with pytest.raises(SegmentError, match=f"at most {MAX_VALUES} values"):
        parse(f"x in [{', '.join(['1'] * (MAX_VALUES + 1))}]")


def test_referenced_lists() -> None:
    text = 'in list "A" and not (in list "B" or x = 1) or in list "A"'
    assert referenced_lists(parse(text)) == {"A", "B"}
    assert referenced_lists(parse("x = 1")) == set()


def test_an_unknown_list_is_reported_where_it_is_named() -> None:
    filter = parse('x = 1 and\nin list "Newsleter"')
    with pytest.raises(SegmentError) as caught:
        compile_filter(filter, WORKSPACE, NOW, {"Newsletter": uuid.uuid4(), "Customers": uuid.uuid4()})
    assert str(caught.value) == 'line 2, column 9: no list named "Newsleter" (did you mean "Newsletter"?)'
    with pytest.raises(SegmentError, match=r'no list named "Newsleter"$'):
        compile_filter(filter, WORKSPACE, NOW)


@pytest.mark.parametrize(
    "text", ['email ends with "@example.com"', 'x = 1 or email contains "ada"', 'email >= "m"']
)
def test_text_matching_on_the_sealed_address_is_refused_where_it_is_asked(text: str) -> None:
    with pytest.raises(SegmentError) as caught:
        compile_filter(parse(text), WORKSPACE, NOW, email_index=str.lower)
    column = text.index("email") + 1
    assert str(caught.value) == (
        f"line 1, column {column}: addresses are stored encrypted: compare email only with =, != or in [...]"
    )


def test_now_must_carry_a_time_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compile_filter(parse("opened ever"), WORKSPACE, datetime(2026, 1, 1))


# Random input: anything but a filter is a SegmentError, and whatever parses compiles on both backends.


def _compiles_everywhere(filter: Filter) -> None:
    lists = {name: uuid.uuid4() for name in referenced_lists(filter)}
    try:
        statement = select(Contact.id).where(compile_filter(filter, WORKSPACE, NOW, lists, str.lower))
    except SegmentError as error:  # text matching on the sealed address is refused at compile time
        assert "addresses are stored encrypted" in str(error)  # noqa: PT017
        return
    # asyncpg's dialect, as it casts bound parameters in the SQL (untyped in SQLAlchemy's stubs).
    for dialect in (sqlite.dialect(), postgresql.asyncpg.dialect()):  # type: ignore[no-untyped-call]
        str(statement.compile(dialect=dialect))


def _parses_or_refuses(text: str) -> None:
    try:
        filter = parse(text)
    except SegmentError:
        return
    _compiles_everywhere(filter)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=8)
_number = st.floats(allow_nan=False, allow_infinity=False).map(repr)
_attribute = st.sampled_from(["country", '"company size"', 'attributes."a\\"b"', "attributes.x", "Größe"])
_builtin = st.sampled_from(["email", "name", "consent_source"])
_days = st.integers(1, 36500).map(str)
_conditions = st.one_of(
    st.tuples(_attribute, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), _text.map(_quoted) | _number),
    st.tuples(_attribute, st.sampled_from(["=", "!="]), st.sampled_from(["true", "false", "null"])),
    st.tuples(
        _attribute | _builtin, st.sampled_from(["contains", "starts with", "ends with"]), _text.map(_quoted)
    ),
    st.tuples(_builtin, st.sampled_from(["=", "<", ">="]), _text.map(_quoted)),
    st.tuples(
        _attribute,
        st.sampled_from(["in", "not in"]),
        st.lists(_number, min_size=1).map(", ".join).map("[{}]".format),
    ),
    st.tuples(
        st.just("consent"), st.sampled_from(["=", "!="]), st.sampled_from(['"pending"', '"subscribed"'])
    ),
    st.tuples(st.just("has"), _attribute | _builtin),
    st.tuples(st.just("in list"), _text.filter(bool).map(_quoted)),
    st.tuples(st.sampled_from(["opened", "received", "bounced"]), st.just("within"), _days, st.just("days")),
    st.tuples(st.sampled_from(["clicked", "failed"]), st.just("ever")),
    st.tuples(st.just("created"), st.sampled_from(["before", "after"]), st.dates().map(str)),
    st.tuples(st.just("created within"), _days, st.sampled_from(["day", "hours"])),
).map(" ".join)
_filters = st.recursive(
    _conditions,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "OR"]), inner).map(" ".join),
        inner.map("not {}".format),
        inner.map("({})".format),
    ),
    max_leaves=6,
)


@given(_filters)
@settings(max_examples=200)
def test_every_filter_of_the_grammar_parses_and_compiles(text: str) -> None:
    _compiles_everywhere(parse(text))


@given(_filters, st.integers(0, 200), st.integers(0, 5), st.text(max_size=3))
@settings(max_examples=300)
def test_damaged_filters_never_raise_anything_but_a_segment_error(
    text: str, at: int, cut: int, inserted: str
) -> None:
    _parses_or_refuses(text[:at] + inserted + text[at + cut :])


@given(st.text(max_size=200))
def test_random_text_never_raises_anything_but_a_segment_error(text: str) -> None:
    _parses_or_refuses(text)


# --- Behaviour on both databases ---------------------------------------------------------------------

# name: (email, name, attributes, consent, consent_source, created_at, lists, events as (kind, age))
_CONTACTS: Mapping[str, tuple[Any, ...]] = {
    "Ada": (
        "ada@example.com", "Ada Lovelace",
        {"country": "DE", "plan": "pro", "seats": 3, "vip": True, "company": "Analytical Engines"},
        ConsentStatus.SUBSCRIBED, "signup form", datetime(2025, 12, 15, 9, 0), ["Newsletter"],
        [(EventKind.OPENED, timedelta(days=5)), (EventKind.CLICKED, timedelta(days=2)),
         (EventKind.SENT, timedelta(days=6))],
    ),
    "Bob": (
        "Bob@example.com", "Bob Smith", {"country": "DE", "plan": "team", "seats": 12, "company": ""},
        ConsentStatus.PENDING, "import", datetime(2026, 1, 10), ["Newsletter", "Customers"],
        [(EventKind.OPENED, timedelta(days=40)), (EventKind.SENT, timedelta(days=41))],
    ),
    "Chloé": (
        "chloe@example.org", "Chloé Smithers",
        {"country": "FR", "city": "Zürich", "plan": "free", "seats": "15", "Größe": "L", "company size": 50},
        ConsentStatus.SUBSCRIBED, "import", datetime(2026, 2, 1), [],
        [(EventKind.SENT, timedelta(days=1)), (EventKind.BOUNCED, timedelta(hours=1))],
    ),
    "Dan": (
        "dan@test.io", "Dan", {}, ConsentStatus.UNSUBSCRIBED, "api", datetime(2026, 3, 1), [],
        [(EventKind.UNSUBSCRIBED, timedelta(days=2))],
    ),
    "Eve": (
        "eve@example.com", "EVE SMITH",
        {"country": None, "plan": "pro", "seats": 10.5, "vip": False, "signup source": "webinar 50%_off"},
        ConsentStatus.SUBSCRIBED, "webinar", datetime(2025, 6, 1), ["Customers"],
        [(EventKind.CLICKED, timedelta(days=10)), (EventKind.OPENED, timedelta(hours=3))],
    ),
    "Finn": (
        "finn@sub.example.com", "Finn", {"country": "de", "seats": 100, 'a"b': 1},
        ConsentStatus.SUBSCRIBED, "", datetime(2026, 1, 1, 12, 0), [],
        [(EventKind.COMPLAINED, timedelta(days=1))],
    ),
    "Gia": (
        "gia@example.net", 'Gia "G" Ng', {"seats": 0, "company": "ACME", "renewal": "2026-06-30"},
        ConsentStatus.PENDING, "api", datetime(2026, 1, 2), [],
        [(EventKind.DELIVERED, timedelta(days=20))],
    ),
    "Hal": (
        "hal@example.com", "Hal", {"country": "US", "plan": "PRO", "renewal": "2025-12-31"},
        ConsentStatus.SUBSCRIBED, "api", datetime(2025, 12, 31, 23, 59, 59), [],
        [(EventKind.FAILED, timedelta(days=30, hours=1))],
    ),
    "Ivy": (
        "ivy@example.com", "Ivy Ängström", {"country": "DE", "plan": "team", "seats": True},
        ConsentStatus.SUBSCRIBED, "api", datetime(2026, 3, 14, 13, 0), [],
        [(EventKind.OPENED, timedelta(days=29, hours=23))],
    ),
}  # fmt: skip
EVERYONE = frozenset(_CONTACTS)

# filter -> the contacts it selects (its `not` must select exactly the others)
CASES: list[tuple[str, Set[str]]] = [
    # Attribute comparisons: typed, case-sensitive, and never matching a missing or null value.
    ('country = "DE"', {"Ada", "Bob", "Ivy"}),
    ('country != "DE"', {"Chloé", "Finn", "Hal"}),
    ('country = "DE" and (plan in ["pro", "team"] or seats >= 10)', {"Ada", "Bob", "Ivy"}),
    ("seats >= 10", {"Bob", "Eve", "Finn"}),
    ("seats < 10", {"Ada", "Gia"}),
    ("seats = 0", {"Gia"}),
    ("seats > 5 and seats < 50", {"Bob", "Eve"}),
    ('seats >= "10"', {"Chloé"}),
    ("seats = true", {"Ivy"}),
    ("vip = false", {"Eve"}),
    ("vip != true", {"Eve"}),
    ("seats in [3, 12]", {"Ada", "Bob"}),
    ("seats not in [3, 12]", {"Eve", "Finn", "Gia"}),
    ("vip in [true]", {"Ada"}),
    ('plan = "pro"', {"Ada", "Eve"}),
    ('plan contains "PRO"', {"Ada", "Eve", "Hal"}),
    ('plan not in ["pro", "team"]', {"Chloé", "Hal"}),
    ('renewal < "2026-01-01"', {"Hal"}),
    ('renewal >= "2026"', {"Gia"}),
    ("has company", {"Ada", "Gia"}),
    ("country = null", {"Dan", "Eve", "Gia"}),
    ("country != null", {"Ada", "Bob", "Chloé", "Finn", "Hal", "Ivy"}),
    # Attribute names that need quoting, or that JSON stores escaped.
    ('"company size" > 10', {"Chloé"}),
    ('attributes."company size" = 50', {"Chloé"}),
    ('"Größe" = "L"', {"Chloé"}),
    ('city = "Zürich" and city starts with "zü"', {"Chloé"}),
    ('has "Größe"', {"Chloé"}),
    ('attributes."a\\"b" = 1', {"Finn"}),
    # Text matching ignores ASCII case and takes % and _ literally.
    ('name contains "smith"', {"Bob", "Chloé", "Eve"}),
    ('name starts with "eve"', {"Eve"}),
    ('"signup source" contains "50%_"', {"Eve"}),
    ('"signup source" contains "50%x"', set()),
    ('name contains "_"', set()),
    ('name contains "Ängström"', {"Ivy"}),
    ('name contains "ängström"', set()),  # only A-Z fold, identically on both databases
    ('name = "Dan"', {"Dan"}),
    ('name = "dan"', set()),
    ('name in ["Dan", "Hal"]', {"Dan", "Hal"}),
    ('name < "a"', EVERYONE),  # code-point order: every upper-case initial sorts before "a"
    ('name contains "\\"G\\""', {"Gia"}),
    ("has name", EVERYONE),
    # email compares the blind index of its lower-cased form (addresses are sealed).
    ('email = "BOB@example.com"', {"Bob"}),
    ('email != "bob@example.com"', EVERYONE - {"Bob"}),
    ('email in ["ADA@EXAMPLE.COM", "dan@test.io"]', {"Ada", "Dan"}),
    ('email not in ["ADA@EXAMPLE.COM", "dan@test.io"]', EVERYONE - {"Ada", "Dan"}),
    ('email = "BOB@example.com" or name contains "smith"', {"Bob", "Chloé", "Eve"}),
    # Consent.
    ('consent = "subscribed" and created after 2026-01-01', {"Chloé", "Ivy"}),
    ('consent in ["pending", "unsubscribed"]', {"Bob", "Dan", "Gia"}),
    ('consent != "subscribed"', {"Bob", "Dan", "Gia"}),
    ('consent_source = "import"', {"Bob", "Chloé"}),
    ("has consent_source", EVERYONE - {"Finn"}),
    # Creation time.
    ("created before 2026-01-01", {"Ada", "Eve", "Hal"}),
    ("created after 2026-01-01T11:00", {"Bob", "Chloé", "Dan", "Finn", "Gia", "Ivy"}),
    ("created after 2026-01-01T13:00+02:00", {"Bob", "Chloé", "Dan", "Finn", "Gia", "Ivy"}),
    ("created within 2 days", {"Ivy"}),
    # Lists.
    ('in list "Newsletter"', {"Ada", "Bob"}),
    ('in list "Newsletter" and not in list "Customers"', {"Ada"}),
    ('in list "Customers"', {"Bob", "Eve"}),
    # Events.
    ("opened within 30 days", {"Ada", "Eve", "Ivy"}),
    ("opened within 30 days and not clicked within 7 days", {"Eve", "Ivy"}),
    ("opened ever", {"Ada", "Bob", "Eve", "Ivy"}),
    ("received within 7 days", {"Ada", "Chloé"}),
    ("sent ever", {"Ada", "Bob", "Chloé"}),
    ("bounced within 2 hours", {"Chloé"}),
    ("failed within 30 days", set()),
    ("failed within 31 days", {"Hal"}),
    ("delivered within 21 days", {"Gia"}),
    ("complained ever or unsubscribed ever", {"Dan", "Finn"}),
    # Layout and keyword case do not matter.
    ('country = "DE"\n  AND seats >= 10', {"Bob"}),
    ('country = "FR" Or country = "US"', {"Chloé", "Hal"}),
]


async def _sealed_address(session: AsyncSession, workspace_id: uuid.UUID, email: str) -> dict[str, Any]:
    """A contact's id, sealed address and blind index, as the repository stores them."""
    keys, contact_id = await workspace_keys(session, workspace_id), uuid.uuid4()
    return {
        "id": contact_id,
        "email_sealed": seal_text(keys, row_identity(workspace_id, "contacts.email", contact_id), email),
        "email_key": address_index(keys, email),
    }


async def _seed(
    session: AsyncSession,
) -> tuple[uuid.UUID, uuid.UUID, dict[str, uuid.UUID], dict[str, uuid.UUID]]:
    """Our workspace with `_CONTACTS`, and another whose data would match nearly every filter."""
    ours, theirs = Workspace(slug="ours", name="Ours"), Workspace(slug="theirs", name="Theirs")
    session.add_all([ours, theirs])
    await session.flush()
    lists = {name: ContactList(workspace_id=ours.id, name=name) for name in ("Newsletter", "Customers")}
    their_lists = {
        name: ContactList(workspace_id=theirs.id, name=name) for name in ("Newsletter", "Customers")
    }
    session.add_all([*lists.values(), *their_lists.values()])
    contacts: dict[str, Contact] = {}
    for name, (email, full_name, attributes, consent, source, created, _, _) in _CONTACTS.items():
        contacts[name] = Contact(
            workspace_id=ours.id,
            **await _sealed_address(session, ours.id, email),
            name=full_name,
            attributes=attributes,
            consent=consent,
            consent_source=source,
            created_at=created.replace(tzinfo=UTC),
        )
    everything = {
        key: value for _, _, attributes, *_ in _CONTACTS.values() for key, value in attributes.items()
    }
    other = Contact(
        workspace_id=theirs.id,
        **await _sealed_address(session, theirs.id, "ada@example.com"),
        name="Other Smith",
        attributes=everything,
        consent=ConsentStatus.SUBSCRIBED,
        consent_source="import",
        created_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    session.add_all([*contacts.values(), other])
    await session.flush()
    for name, (*_, in_lists, events) in _CONTACTS.items():
        session.add_all(
            ListMember(list_id=lists[list_name].id, contact_id=contacts[name].id) for list_name in in_lists
        )
        session.add_all(
            MessageEvent(workspace_id=ours.id, contact_id=contacts[name].id, kind=kind, occurred_at=NOW - age)
            for kind, age in events
        )
    session.add_all(
        ListMember(list_id=their_list.id, contact_id=other.id) for their_list in their_lists.values()
    )
    session.add_all(
        MessageEvent(
            workspace_id=theirs.id, contact_id=other.id, kind=kind, occurred_at=NOW - timedelta(hours=1)
        )
        for kind in EventKind
    )
    # Corrupt on purpose: another workspace's event and list pointing at our contact must not count.
    session.add(
        MessageEvent(
            workspace_id=theirs.id, contact_id=contacts["Dan"].id, kind=EventKind.OPENED, occurred_at=NOW
        )
    )
    session.add(ListMember(list_id=their_lists["Newsletter"].id, contact_id=contacts["Dan"].id))
    return (
        ours.id,
        theirs.id,
        {name: contact_list.id for name, contact_list in lists.items()},
        {name: contact_list.id for name, contact_list in their_lists.items()},
    )


async def test_filters_select_the_same_contacts_on_every_backend(settings: Settings) -> None:
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            ours, theirs, lists, their_lists = await _seed(session)
        async with database.session(read_only=True) as session:
            short = {full_name: name for name, (_, full_name, *_) in _CONTACTS.items()} | {
                "Other Smith": "Other"
            }
            names = {contact.id: short[contact.name] for contact in await session.scalars(select(Contact))}

            async def selected(text: str, workspace: uuid.UUID = ours, **kw: Any) -> set[str]:
                indexer = await repository.email_indexer(session, workspace)
                where = compile_filter(parse(text), workspace, NOW, kw.get("lists", lists), indexer)
                return {
                    names[contact_id] for contact_id in await session.scalars(select(Contact.id).where(where))
                }

            wrong = []
            for text, expected in CASES:
                found, complement = await selected(text), await selected(f"not ({text})")
                if found != expected or complement != EVERYONE - expected:
                    wrong.append((text, sorted(found), sorted(complement)))
            assert wrong == []
            assert await selected("opened ever", theirs, lists=their_lists) == {"Other"}
            assert await selected('in list "Newsletter"', theirs, lists=their_lists) == {"Other"}
            # Even a list id of the wrong workspace never reaches across.
            assert await selected('in list "Newsletter"', lists=their_lists) == set()
    finally:
        await database.dispose()


def test_the_events_segments_read_are_the_message_events_table() -> None:
    """audiences/engagement.py names the columns segments read of delivery's table: the same
    table, columns and types, so a change to one cannot leave the other behind."""
    table = MessageEvent.__table__
    assert isinstance(table, sqlalchemy.Table)
    assert MESSAGE_EVENTS.name == table.name
    for port_column in MESSAGE_EVENTS.columns:
        real = table.columns[port_column.name]
        assert type(port_column.type) is type(real.type), port_column.name
        if isinstance(real.type, sqlalchemy.Enum):
            assert port_column.type.enums == real.type.enums  # type: ignore[attr-defined]
