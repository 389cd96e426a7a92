"""CSV import and export: streamed parsing whatever the chunking, per-row rejections, whole-file refusals."""

from __future__ import annotations

import csv
import io
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import anyio
import anyio.lowlevel
import msgspec
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from justmaily.server.audiences import csv_io
from justmaily.server.audiences.csv_io import (
    DuplicateRow,
    FileRejected,
    ImportedRow,
    RowRejection,
    export_contacts,
    export_header,
    export_row,
    normalise_address,
    read_contacts,
)
from justmaily.server.audiences.models import Contact as ContactRow
from justmaily.shared.audiences import ConsentStatus, Contact

Item = ImportedRow | RowRejection

BOM = b"\xef\xbb\xbf"
SAMPLE = (
    BOM + b"Email,First Name,Last_Name,Plan,Note\r\n"
    b"ada@example.com,Ada,Lovelace,pro,\r\n"
    b'"bob@example.com",Bob,,free,"says ""hi"", then\r\nleaves"\r\n'
    b"\r\n"
    b"carol@b\xc3\xbccher.example,Carol,\xc3\x9cller,,\xe2\x82\xac 5\r\n"
    b"ADA@example.com,Ada,Again,pro,\r\n"
    b"bob@,Bob,,free,\r\n"
    b"dan@example.com,Dan,,free\r\n"
    b"erin@example.com,Erin,,,last line without line end"
)


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read(data: bytes, size: int = 1 << 20, **limits: int) -> list[Item]:
    return [item async for item in read_contacts(chunked(data, size), **limits)]


async def outcome(data: bytes, size: int = 1 << 20) -> list[Item] | str:
    """The items, or the reason the file was refused."""
    try:
        return await read(data, size)
    except FileRejected as exc:
        return f"refused: {exc.reason}"


async def refusal(data: bytes, size: int = 1 << 20, **limits: int) -> str:
    with pytest.raises(FileRejected) as refused:
        await read(data, size, **limits)
    return refused.value.reason


async def drain(items: AsyncIterator[Item], into: list[Item]) -> None:
    async for item in items:
        into.append(item)


def rows(items: Iterable[Item]) -> list[ImportedRow]:
    return [item for item in items if isinstance(item, ImportedRow)]


def rejections(items: Iterable[Item]) -> dict[int, str]:
    return {item.row: item.reason for item in items if isinstance(item, RowRejection)}


# --- Reading ------------------------------------------------------------------------------------


async def test_the_sample_reads_as_expected() -> None:
    items = await read(SAMPLE)
    assert rows(items) == [
        ImportedRow(
            row=2,
            email="ada@example.com",
            email_key="ada@example.com",
            name="Ada Lovelace",
            attributes={"Plan": "pro"},
        ),
        ImportedRow(
            row=3,
            email="bob@example.com",
            email_key="bob@example.com",
            name="Bob",
            attributes={"Plan": "free", "Note": 'says "hi", then\r\nleaves'},
        ),
        # Row 4 is the blank line: it keeps its number.
        ImportedRow(
            row=5,
            email="carol@xn--bcher-kva.example",
            email_key="carol@xn--bcher-kva.example",
            name="Carol Üller",
            attributes={"Note": "€ 5"},
        ),
        ImportedRow(
            row=9,
            email="erin@example.com",
            email_key="erin@example.com",
            name="Erin",
            attributes={"Note": "last line without line end"},
        ),
    ]
    assert rejections(items) == {
        6: 'row 6: "ADA@example.com" is a duplicate of row 2',
        7: 'row 7: "bob@" is not a valid address: There must be something after the @-sign.',
        8: "row 8 has 4 cells where the header has 5",
    }
    assert [type(item) for item in items if isinstance(item, RowRejection)] == [
        DuplicateRow,
        RowRejection,
        RowRejection,
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
async def test_any_chunking_gives_the_same_items(size: int) -> None:
    assert await read(SAMPLE, size) == await read(SAMPLE)


@pytest.mark.parametrize("bom", [b"", BOM])
@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
async def test_line_ends_and_bom(bom: bytes, line_end: bytes) -> None:
    data = bom + line_end.join(
        [b"email,name", b"a@example.com,A", b'b@example.com,"B', b'C"', b"c@example.com,C"]
    )
    for size in (1, 1000):
        items = await read(data, size)
        assert [(row.row, row.email, row.name) for row in rows(items)] == [
            (2, "a@example.com", "A"),
            (3, "b@example.com", "B" + line_end.decode() + "C"),
            (4, "c@example.com", "C"),
        ]


@pytest.mark.parametrize(
    ("data", "attributes"),
    [
        (b"email;name;city\na@example.com;A;Lyon, FR\n", {"city": "Lyon, FR"}),
        (b"email\tname\tcity\na@example.com\tA\tLyon; FR\n", {"city": "Lyon; FR"}),
        (b'sep=;\nemail;name;city\na@example.com;A;"x;y"\n', {"city": "x;y"}),
        (b"email,name;x,city\na@example.com,A,Lyon\n", {"name;x": "A", "city": "Lyon"}),  # a comma decides
    ],
)
async def test_delimiter_comes_from_the_header_line(data: bytes, attributes: dict[str, str]) -> None:
    (row,) = await read(data)
    assert isinstance(row, ImportedRow)
    assert row.attributes == attributes


async def test_quoted_cells_hold_delimiters_quotes_and_line_breaks_across_chunks() -> None:
    note = 'line one, with "quotes"\nline two;\n\nline four'
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [["email", "note"], ["a@example.com", note], ["b@example.com", "x"]]
    )
    data = buffer.getvalue().encode()
    for size in (1, 5, len(data)):
        items = await read(data, size)
        assert [(row.row, row.attributes) for row in rows(items)] == [(2, {"note": note}), (3, {"note": "x"})]


async def test_a_quote_inside_an_unquoted_cell_is_literal() -> None:
    items = await read(b'email,note\na@example.com,5" screen\nb@example.com,x"y"\n')
    assert [row.attributes for row in rows(items)] == [{"note": '5" screen'}, {"note": 'x"y"'}]


@pytest.mark.parametrize("data", [b'sep="\nemail\n', b"sep=a\nemail\n", b"sep=\r\nemail\n"])
async def test_a_sep_line_naming_no_sensible_delimiter_is_just_a_header(data: bytes) -> None:
    assert (await refusal(data)).startswith("No email column")


async def test_a_line_break_outside_quotes_rejects_the_row() -> None:
    # CR line ends, and a stray LF before an address: the csv module refuses that record.
    items = await read(b"email\ra@example.com\r\nb@example.com\rc@example.com")
    assert rejections(items) == {3: "row 3 is not valid CSV: a line break outside quotes"}
    assert [row.row for row in rows(items)] == [2, 4]


async def test_blank_lines_and_empty_spreadsheet_rows_are_skipped_but_counted() -> None:
    data = b"\n  \nemail,name\n\n,,\n , \na@example.com,A\n\n\n"
    items = await read(data)
    assert items == [
        ImportedRow(row=7, email="a@example.com", email_key="a@example.com", name="A", attributes={})
    ]


async def test_header_only_gives_nothing() -> None:
    assert await read(b"email,name\r\n") == []


@pytest.mark.parametrize("data", [b"", BOM, b"\n\n  \r\n"])
async def test_empty_file_is_refused(data: bytes) -> None:
    assert "empty" in await refusal(data)


async def test_invalid_utf8_refuses_the_file_naming_row_line_and_byte() -> None:
    lines = [b"email,name"] + [b"user%d@example.com,User %d" % (i, i) for i in range(2, 6001)]
    lines[4999] = b"user5000@example.com,Z\xfcrich"  # Latin-1, as an old Excel would write it
    data = b"\n".join(lines) + b"\n"
    offset = data.index(b"\xfc")
    seen: list[Item] = []
    for size in (7, 4096, len(data)):
        seen.clear()
        with pytest.raises(FileRejected) as refused:
            await drain(read_contacts(chunked(data, size)), into=seen)
        assert refused.value.reason.startswith(f"Row 5000 (line 5000, byte {offset}) is not valid UTF-8")
        assert "CSV UTF-8" in refused.value.reason
        assert len(seen) == 4998  # the rows before it; the caller merges nothing of a refused file


async def test_a_multibyte_character_split_between_chunks_is_fine() -> None:
    data = "email,name\na@example.com,Zoë 😀\n".encode()
    assert rows(await read(data, 1))[0].name == "Zoë 😀"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("email,name\na@example.com,A\n".encode("utf-16"), "UTF-16"),
        ("email,name\na@example.com,A\n".encode("utf-16-be"), "NUL byte"),  # no BOM: NULs show it
        (b"email,name\na@example.com,A\x00\n", "Row 2 (line 2, byte 26) holds a NUL byte"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
    ],
)
async def test_files_that_are_not_utf8_text_are_refused(data: bytes, expected: str) -> None:
    assert expected in await refusal(data)
    assert expected in await refusal(data, 1)


async def test_missing_email_column_lists_the_columns_found() -> None:
    reason = await refusal(b"Name,Phone\nAda,123\n")
    assert (
        reason == 'No email column: the header needs a column called "email". Columns found: "Name", "Phone".'
    )


async def test_a_file_without_header_is_told_so() -> None:
    assert "must be a header" in await refusal(b"ada@example.com,Ada\n")


@pytest.mark.parametrize(
    "header", [b"email,Plan,plan", b"Email,e-mail,EMAIL ", b"email,first_name,First Name"]
)
async def test_duplicate_headers_refuse_the_file(header: bytes) -> None:
    assert "twice" in await refusal(header + b"\na@example.com,x,y\n")


async def test_too_many_columns_refuse_the_file() -> None:
    header = b"email," + b",".join(b"c%d" % i for i in range(100))
    assert "101 columns; at most 100" in await refusal(header + b"\n")


async def test_the_header_decides_name_email_and_attributes() -> None:
    data = (
        b" E-Mail ,Full Name,mail,First Name,consent,created_at,,Consent_Source,Score\n"
        b"a@example.com,Ada L,other@example.com,Ada,yes,2020-01-01,junk,fair,\n"
    )
    (row,) = await read(data)
    assert isinstance(row, ImportedRow)
    assert row.name == "Ada L"  # a full name beats first and last names
    # A second address column and an unused name column are attributes; consent and dates are the
    # import's business, unnamed columns are ignored, empty cells are left out.
    assert row.attributes == {"mail": "other@example.com", "First Name": "Ada"}


async def test_record_over_the_limit_refuses_the_file_without_reading_on() -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b'email,note\na@example.com,ok\nb@example.com,"an unclosed quote\n'
        while True:
            pulled += 1
            yield b"more rows swallowed by the quote\n" * 32  # about 1 KiB

    with pytest.raises(FileRejected, match=r"^Row 3 is longer than 64 KiB — an unclosed quote\?$"):
        async for _ in read_contacts(endless()):
            pass
    assert pulled <= 65


@pytest.mark.parametrize("size", [1, 100, 10_000])
async def test_one_long_line_is_refused_at_the_limit(size: int) -> None:
    data = b"email,note\na@example.com," + b"x" * 5000 + b"\n"
    assert (
        await refusal(data, size, max_record_bytes=4000)
        == "Row 2 is longer than 4000 bytes — an unclosed quote?"
    )
    assert len(await read(data, size, max_record_bytes=5020)) == 1


async def test_an_unclosed_quote_at_the_end_refuses_the_file() -> None:
    assert "never closed" in await refusal(b'email,name\na@example.com,"Ada\nb@example.com,Bob\n')


async def test_rows_are_rejected_one_by_one() -> None:
    long_name = "x" * 201
    data = (
        "email,name\n"
        ",Nobody\n"
        f"a@example.com,{long_name}\n"
        "a@example.com,Ada\n"
        "b@example.com,Bob,extra\n"
        "c@example.com\n"
        '"a\rb@example.com",x\n'
    ).encode()
    assert rejections(await read(data)) == {
        2: "row 2: the email cell is empty",
        3: "row 3: the name has 201 characters; at most 200",
        5: "row 5 has 3 cells where the header has 2",
        6: "row 6 has 1 cell where the header has 2",
        7: 'row 7: "a\\rb@example.com" is not a valid address: The email address contains invalid characters '
        "before the @-sign: U+000D.",
    }


def test_a_duplicate_is_sent_as_a_plain_rejection() -> None:
    duplicate = DuplicateRow(row=4, reason="row 4: duplicate of row 2")
    assert msgspec.json.encode(duplicate) == msgspec.json.encode(RowRejection(row=4, reason=duplicate.reason))


async def test_duplicates_keep_the_first_row_and_compare_case_insensitively() -> None:
    data = (
        b"email,name\nAda@Example.com,first\nbob@example.com,Bob\n"
        b"ada@EXAMPLE.COM,second\nADA@example.com,third\n"
    )
    items = await read(data)
    assert [(row.row, row.email, row.email_key, row.name) for row in rows(items)] == [
        (2, "Ada@example.com", "ada@example.com", "first"),
        (3, "bob@example.com", "bob@example.com", "Bob"),
    ]
    duplicates = [item for item in items if isinstance(item, DuplicateRow)]
    assert [(item.row, item.reason) for item in duplicates] == [
        (4, 'row 4: "ada@example.com" is a duplicate of row 2'),
        (5, 'row 5: "ADA@example.com" is a duplicate of row 2'),
    ]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("bob@", "There must be something after the @-sign."),
        ("a@b", "The part after the @-sign is not valid. It should have a period."),
        ('"x"@example.com', "Quoting the part before the @-sign is not allowed here."),
        ("a@localhost.test", "special-use or reserved name"),
        ("Ada Lovelace <ada@example.com>", "display name"),
        ("user@bücher.example", "user@xn--bcher-kva.example"),
        ("  Ada@Example.COM ", "Ada@example.com"),
        ("Postmaster@Example.com", "postmaster@example.com"),  # RFC 2142 names ignore case
        ("Zoë@example.com", "Zoë@example.com"),
        ("'-bob@example.com", "-bob@example.com"),  # an export's formula guard is undone
        ("'ok@example.com", "'ok@example.com"),  # an apostrophe is a valid first character
    ],
)
async def test_addresses(cell: str, expected: str) -> None:
    (item,) = await read(f'email\n"{cell.replace(chr(34), chr(34) * 2)}"\n'.encode())
    if isinstance(item, ImportedRow):
        assert item.email == expected
        assert item.email_key == expected.lower()
    else:
        assert item.reason.startswith(f'row 2: "{cell.strip()}" is not a valid address: ')
        assert expected in item.reason


async def test_a_long_bad_address_is_shortened_in_the_reason() -> None:
    (item,) = await read(b"email\n" + b"x" * 300 + b"\n")
    assert isinstance(item, RowRejection)
    assert len(item.reason) < 250
    assert "…" in item.reason


async def test_a_large_file_streams_in_bounded_memory() -> None:
    template = "".join(f"user{j}@bBLOCK.example.com,User {j}\n" for j in range(1000)).encode()

    async def generated() -> AsyncIterator[bytes]:
        yield b"email,name\n"
        for block in range(100):
            yield template.replace(b"BLOCK", b"%d" % block)

    count = 0
    tracemalloc.start()
    try:
        async for item in read_contacts(generated()):
            assert isinstance(item, ImportedRow)
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    # Most of it is the set of addresses seen, needed to name the first row of a duplicate.
    assert peak < 20 * 1024 * 1024


async def test_a_long_import_lets_other_tasks_run() -> None:
    data = b"email\n" + b"".join(b"u%d@example.com\n" % i for i in range(5000))
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await anyio.lowlevel.checkpoint()

    async def source() -> AsyncIterator[bytes]:
        yield data  # one chunk and no await: only the reader's checkpoints give way

    async with anyio.create_task_group() as group:
        group.start_soon(other_task)
        await anyio.lowlevel.checkpoint()
        before = turns
        assert len([item async for item in read_contacts(source())]) == 5000
        group.cancel_scope.cancel()
    assert turns - before >= 9


# --- Properties -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda tail: b"email,name\n" + tail),
        st.text(alphabet='a@.,;"\r\n\t x\x00é', max_size=120).map(lambda text: ("email,n\n" + text).encode()),
    ),
    size=st.integers(min_value=1, max_value=40),
)
def test_any_input_gives_items_or_a_refusal_whatever_the_chunking(data: bytes, size: int) -> None:
    # Anything but FileRejected escaping would fail this test; and chunking never changes the result.
    whole = anyio.run(outcome, data)
    assert anyio.run(outcome, data, size) == whole


@settings(max_examples=100, deadline=None)
@given(
    table=st.lists(
        st.lists(st.text(alphabet='ab ,;"\n\r\t=é', max_size=8), min_size=2, max_size=2),
        max_size=6,
    ),
    size=st.integers(min_value=1, max_value=30),
)
def test_what_the_csv_module_writes_is_read_back(table: list[list[str]], size: int) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "a", "b"])
    writer.writerows([f"u{i}@example.com", *cells] for i, cells in enumerate(table))
    items = anyio.run(read, buffer.getvalue().encode(), size)
    expected = [
        {key: value.strip() for key, value in zip("ab", cells, strict=True) if value.strip()}
        for cells in table
    ]
    assert [row.attributes for row in rows(items)] == expected


@settings(max_examples=300)
@given(line=st.text(alphabet='a,"', max_size=12), quoted=st.booleans())
def test_record_boundaries_agree_with_the_csv_module(line: str, quoted: bool) -> None:
    # A line that leaves the csv module inside quotes makes it read the next line into the record.
    text = '"' + line if quoted else line
    reader = csv.reader(iter([text + "\n", 'end"\n', "next\n"]))
    next(reader)
    assert csv_io._ends_in_quotes(line, ",", quoted=quoted) == (reader.line_num == 2)


def reference_normalisation(text: str) -> str:
    result = validate_email(text, check_deliverability=False)
    return result.local_part + "@" + result.ascii_domain


def normalised_or_error(normalise: object, text: str) -> str:
    assert callable(normalise)
    try:
        return str(normalise(text))
    except EmailNotValidError as exc:
        return f"invalid: {exc}"


_ADDRESS_PARTS = st.sampled_from(
    ["a", "Z", "0", ".", "-", "--", "+", "_", "'", "=", "@", "xn--", "test", "local", "Postmaster", "é", '"']
)


@settings(max_examples=200)
@given(
    local=st.lists(_ADDRESS_PARTS, max_size=5).map("".join),
    domain=st.lists(_ADDRESS_PARTS, max_size=6).map("".join),
    tld=st.sampled_from(["com", "COM", "test", "invalid", "c0", "", ".", "xn--p1ai", "a-"]),
)
def test_the_address_shortcut_gives_email_validators_result(local: str, domain: str, tld: str) -> None:
    text = f"{local}@{domain}.{tld}"
    assert normalised_or_error(normalise_address, text) == normalised_or_error(reference_normalisation, text)


@pytest.mark.parametrize(
    "text",
    [
        "a@" + "b" * 63 + ".com",
        "a@" + "b" * 64 + ".com",
        "x" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com",  # 254 characters
        "x" * 65 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com",
        "a@ab--c.com",
        "a@xn--bcher-kva.example",
        "a@1.2.3.4",
        "a@example.arpa",
        "a@sub.onion",
        "a@example.com.",
        ".a@example.com",
        "a.@example.com",
        "a..b@example.com",
        "a@-example.com",
        "a@example-.com",
        "SALES@Example.Com",
    ],
)
def test_the_address_shortcut_at_its_edges(text: str) -> None:
    assert normalised_or_error(normalise_address, text) == normalised_or_error(reference_normalisation, text)


def test_plain_addresses_take_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    def unused(*args: object, **kwargs: object) -> None:
        raise AssertionError("email-validator was called")

    monkeypatch.setattr(csv_io, "validate_email", unused)
    assert normalise_address("Ada.Lovelace+news@Mail.Example.COM") == "Ada.Lovelace+news@mail.example.com"


# --- Export -------------------------------------------------------------------------------------

CREATED = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def contact(email: str, name: str = "", **attributes: str | int | bool | None) -> Contact:
    return Contact(
        id=uuid.uuid4(),
        email=email,
        name=name,
        attributes=attributes,
        consent=ConsentStatus.SUBSCRIBED,
        consent_source="fair 2026",
        consent_at=CREATED,
        suppressed=None,
        created_at=CREATED,
        updated_at=CREATED,
    )


async def contacts(*items: Contact) -> AsyncIterator[Contact]:
    for item in items:
        yield item


def test_export_header_has_a_bom_and_the_fixed_columns_first() -> None:
    assert export_header(["plan", "Name", "plan", "=cmd", " "]) == (
        BOM + b"email,name,consent,consent_source,consent_at,created_at,plan,Name (2),plan (2),'=cmd,(2)\r\n"
    )


def test_export_row_guards_formulas_and_writes_values_as_text() -> None:
    row = ContactRow(
        email="-bob@example.com",
        name='=HYPERLINK("http://evil")',
        attributes={"score": -5, "vip": True, "note": '@home, "cosy"', "none": None, "tab": "\tx"},
        consent=ConsentStatus.PENDING,
        consent_source="+api",
        consent_at=None,
        created_at=CREATED,
    )
    line = export_row(row, ["score", "vip", "note", "none", "missing", "tab"])
    assert next(csv.reader([line.decode()])) == [
        "'-bob@example.com",
        '\'=HYPERLINK("http://evil")',
        "pending",
        "'+api",
        "",
        "2026-03-01T12:30:00+00:00",
        "'-5",
        "true",
        '\'@home, "cosy"',
        "",
        "",
        "'\tx",
    ]
    assert line.endswith(b"\r\n")


async def test_export_streams_batches() -> None:
    chunks = [
        chunk
        async for chunk in export_contacts(
            contacts(*(contact(f"u{i}@example.com") for i in range(5))), [], rows_per_chunk=2
        )
    ]
    assert [chunk.count(b"\r\n") for chunk in chunks] == [1, 2, 2, 1]
    assert chunks[0].startswith(BOM)


async def test_export_then_import_gives_the_same_contacts() -> None:
    originals = [
        contact("ada@example.com", "Ada Lovelace", plan="pro", city="Zürich, CH", note='say "hi"\nbye'),
        contact("-bob@example.com", "Bob", plan="free", formula="=1+1"),
        contact("zoë@xn--bcher-kva.example", "", plan="", city="Köln"),
    ]
    keys = ["plan", "city", "note", "formula"]
    exported = b"".join([chunk async for chunk in export_contacts(contacts(*originals), keys)])
    items = await read(exported, 7)
    assert [(row.row, row.email, row.name, row.attributes) for row in rows(items)] == [
        (
            2,
            "ada@example.com",
            "Ada Lovelace",
            {"plan": "pro", "city": "Zürich, CH", "note": 'say "hi"\nbye'},
        ),
        # The formula guard stays on attributes (documented); the address loses it.
        (3, "-bob@example.com", "Bob", {"plan": "free", "formula": "'=1+1"}),
        (4, "zoë@xn--bcher-kva.example", "", {"city": "Köln"}),
    ]
    assert rejections(items) == {}
