"""Contacts as CSV: a streamed upload read into validated rows, and contacts written out as CSV bytes.

No database here. `read_contacts` turns the request body (byte chunks of any size) into one
`ImportedRow` or `RowRejection` per CSV record, holding at most one record in memory; a file that
cannot be read as a whole raises `FileRejected`, possibly after rows were already yielded, so the
caller merges nothing until the generator has finished. `export_header`, `export_row` and
`export_contacts` write the other direction, in a form Excel opens correctly.

Reading follows the `csv` module (excel dialect, not strict): record boundaries are found per
physical line by `_ends_in_quotes`, which mirrors the module's quote states, so the module only
ever parses one complete record. Lines without a quote character skip the module: for them
`str.split` gives the same cells.
"""

from __future__ import annotations

import csv
import io
import re
import string
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Final, Protocol

import anyio.lowlevel
import email_validator
import msgspec
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from justmaily.shared.audiences import RowRejection

__all__ = [
    "EXPORT_COLUMNS",
    "MAX_NAME_LENGTH",
    "DuplicateRow",
    "ExportableContact",
    "FileRejected",
    "ImportedRow",
    "RowRejection",
    "export_contacts",
    "export_header",
    "export_row",
    "normalise_address",
    "read_contacts",
]

MAX_NAME_LENGTH: Final = 200  # contacts.name is String(200); shared PersonName says the same
# Every this many records the reader hands the event loop a turn, so a large import cannot starve
# the other requests of this process.
_CHECKPOINT_EVERY: Final = 500
_SHOWN_CHARS: Final = 60  # how much of a bad cell a rejection quotes
_MESSAGE_CHARS: Final = 120  # how much of email-validator's explanation a rejection keeps

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")  # also the start of the UTF-32 little-endian BOM
_WORKBOOKS: Final = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # .xlsx (a zip) and the old .xls
_SAVE_AS: Final = 'save it from the spreadsheet as "CSV UTF-8 (comma delimited)" and upload that file'

# Header labels are compared after `_label`: trimmed, case-folded, "_" read as a space.
_EMAIL_LABELS: Final = frozenset({"email", "e-mail", "email address", "e-mail address", "mail"})
_NAME_LABELS: Final = ("name", "full name")  # in order of preference
_FIRST_NAME_LABELS: Final = frozenset({"first name", "firstname", "given name"})
_LAST_NAME_LABELS: Final = frozenset({"last name", "lastname", "surname", "family name"})

# The columns an export writes besides email, name and the attributes. On import they are not
# attributes: consent and dates are set by the import itself, and a re-imported export must not
# grow attributes called "consent" or "created_at" on every contact.
EXPORT_COLUMNS: Final = ("email", "name", "consent", "consent_source", "consent_at", "created_at")
_IGNORED_LABELS: Final = frozenset({"consent", "consent source", "consent at", "created at"})

# OWASP's CSV-injection list: a spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
_GUARDED_ADDRESS_STARTS: Final = frozenset("=+-@")

# Excel's optional first line naming the delimiter; a quote, letter, digit or line break cannot be one.
_SEP_LINE: Final = re.compile(r'sep=([^"\w\r\n])\r?')

# The shortcut of `normalise_address` (see there). String methods rather than a regular
# expression: `str.strip(chars)` returning "" proves every character is in `chars`, without
# allocating, which keeps the shortcut cheap (a regex match allocates its state).
_LOCAL_CHARS: Final = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-."  # atext and dots
_DOMAIN_CHARS: Final = string.ascii_letters + string.digits + "-."
_MAX_ADDRESS_LENGTH: Final = 254  # email-validator's EMAIL_MAX_LENGTH
_MAX_LABEL_LENGTH: Final = 63  # email-validator's DNS_LABEL_LENGTH_LIMIT
_CASE_INSENSITIVE_MAILBOXES: Final = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_LONGEST_MAILBOX: Final = max(map(len, CASE_INSENSITIVE_MAILBOX_NAMES))
# email-validator reads its special-use list at each call; the shortcut applies only while the
# list is still the one snapshot here.
_SPECIAL_USE: Final = list(email_validator.SPECIAL_USE_DOMAIN_NAMES)
_SPECIAL_USE_NAMES: Final = frozenset(_SPECIAL_USE)
_SPECIAL_USE_SUFFIXES: Final = tuple("." + name for name in _SPECIAL_USE)


# The name reads as the verdict where the import catches it (`except FileRejected`).
class FileRejected(Exception):  # noqa: N818
    """The file as a whole cannot be imported; `reason` says why, in words for the person who sent it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# gc=False: rows hold only strings, so they can never be part of a reference cycle, and a large
# import creates many of them.
class ImportedRow(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One valid contact of the file."""

    row: int  # the CSV record's number, the header being row 1; blank lines count
    email: str  # as email-validator normalises it, with the domain in its ASCII (IDNA) form
    email_key: str  # `email` lower-cased: the identity for de-duplication and suppression
    name: str
    attributes: dict[str, str]  # header → trimmed cell, empty cells left out


class DuplicateRow(RowRejection, frozen=True, kw_only=True):
    """A rejection because an earlier row of the same file has the address; the earlier row wins.

    A `RowRejection` in every way (it encodes as one), told apart by type so that the caller can
    count duplicates separately.
    """


_Item = ImportedRow | RowRejection


def normalise_address(text: str) -> str:
    """The address as stored: email-validator's normalisation, with the domain as ASCII (IDNA).

    Raises `EmailNotValidError`. email-validator costs about 25 µs an address, half the time budget
    of an import row, so a plain ASCII address takes a shortcut (`_plain_address`) that gives
    exactly email-validator's result; anything else goes to email-validator itself.
    """
    plain = _plain_address(text)
    if plain is not None:
        return plain
    # The options the shortcut relies on are spelled out, so that email-validator's module-level
    # defaults, which anyone may change, cannot make the two paths disagree.
    result = validate_email(
        text, check_deliverability=False, strict=False, globally_deliverable=True, test_environment=False
    )
    return result.local_part + "@" + result.ascii_domain


def _plain_address(text: str) -> str | None:
    """`normalise_address` of a plain ASCII address, or None to ask email-validator.

    For a dot-atom of ASCII atext, "@", and a domain of letter-digit-hyphen labels, email-validator
    (2.4, read for this) does nothing but these checks, in its order: split at the only "@";
    the local part matches `DOT_ATOM_TEXT` (atext and dots, no dot first, last or doubled); RFC 2142
    mailbox names ("Postmaster") are lower-cased; the domain is at most 253 characters, UTS-46
    remapping only lower-cases it, no label starts or ends with a hyphen or is empty, no "ab--"
    label (here: no "--" at all, and Punycode goes the long way), labels are at most 63, there is a
    dot and the last character is a letter, and no special-use name ends it; the whole address is
    at most 254. The normalised form is the local part, "@", and the lower-cased domain.
    tests/server/audiences/test_csv_io.py compares both paths on generated addresses, so that an
    upgrade changing these rules shows up there.
    """
    at = text.find("@")
    if at < 1 or len(text) > _MAX_ADDRESS_LENGTH or email_validator.SPECIAL_USE_DOMAIN_NAMES != _SPECIAL_USE:
        return None
    domain = text[at + 1 :]
    if (
        text.strip(_LOCAL_CHARS) != "@"  # one "@", with only atext and dots on either side
        or text[0] == "."
        or text[at - 1] == "."
        or text.find("..", 0, at) >= 0
        or domain.strip(_DOMAIN_CHARS)
        or "." not in domain
        or not domain[-1].isalpha()
        or domain[0] in "-."
        or ".." in domain
        or "--" in domain
        or ".-" in domain
        or "-." in domain
    ):
        return None
    if len(domain) > _MAX_LABEL_LENGTH and max(map(len, domain.split("."))) > _MAX_LABEL_LENGTH:
        return None
    lowered = domain if domain.islower() else domain.lower()
    if lowered in _SPECIAL_USE_NAMES or lowered.endswith(_SPECIAL_USE_SUFFIXES):
        return None
    if text.islower():
        return text  # lower-casing changes nothing: no mailbox name to fold, the domain as it is
    local = text[:at]
    if at <= _LONGEST_MAILBOX and local.lower() in _CASE_INSENSITIVE_MAILBOXES:
        local = local.lower()
    return local + "@" + lowered


async def read_contacts(
    chunks: AsyncIterable[bytes], *, max_record_bytes: int = 64 * 1024, max_columns: int = 100
) -> AsyncIterator[ImportedRow | RowRejection]:
    """Validated rows and per-row rejections of a CSV file arriving as byte chunks of any size.

    The file must be UTF-8 (a BOM is skipped) and start with a header naming an email column
    (`email`, `e-mail`, `email address` or `mail`, in any case). The delimiter is a comma, or a
    semicolon or tab when the header line has no comma but those (Excel writes ";" in many
    locales); Excel's "sep=;" first line is honoured. Line ends may be CRLF, LF or CR, and quoted
    cells may hold delimiters, quotes and line breaks. Row numbers count CSV records, as a
    spreadsheet shows them: the header is row 1, blank lines count, a quoted line break does not.

    A `name` (or `full name`) column gives the name, else `first name` and `last name` joined;
    every other named column is an attribute, except an export's `consent`, `consent_source`,
    `consent_at` and `created_at`, which the import sets itself. An apostrophe before =, +, - or @
    at the start of an email cell is dropped: it is an export's formula guard (and what people
    type in Excel), not part of the address. Cells are trimmed; empty ones are no attribute.

    Raises `FileRejected` when the file as a whole cannot be imported, possibly after rows have
    been yielded. Memory stays bounded by `max_record_bytes` plus one chunk, and the set of
    addresses seen: a dict of address to row, about 150 bytes a row (15 MB for 100,000 rows).
    """
    reader = _Reader(max_record_bytes=max_record_bytes, max_columns=max_columns)
    next_checkpoint = _CHECKPOINT_EVERY
    async for chunk in chunks:
        for item in reader.feed(chunk):
            yield item
            if reader.records >= next_checkpoint:
                await anyio.lowlevel.checkpoint()
                next_checkpoint = reader.records + _CHECKPOINT_EVERY
        # Blank lines and the header yield nothing, so count them here too.
        if reader.records >= next_checkpoint:
            await anyio.lowlevel.checkpoint()
            next_checkpoint = reader.records + _CHECKPOINT_EVERY
    for item in reader.finish():
        yield item


class _Header(msgspec.Struct, frozen=True, kw_only=True):
    width: int
    email: int  # column indexes
    name: int | None
    first_name: int | None
    last_name: int | None
    attributes: tuple[tuple[int, str], ...]  # (column, attribute key)

    def name_of(self, cells: list[str]) -> str:
        if self.name is not None:
            return cells[self.name].strip()
        parts = (cells[column].strip() for column in (self.first_name, self.last_name) if column is not None)
        return " ".join(part for part in parts if part)

    def attributes_of(self, cells: list[str]) -> dict[str, str]:
        attributes: dict[str, str] = {}
        for column, key in self.attributes:
            value = cells[column].strip()
            if value:  # an empty cell says nothing about the contact
                attributes[key] = value
        return attributes


class _Reader:
    """The synchronous state machine behind `read_contacts`: bytes in, items out."""

    def __init__(self, *, max_record_bytes: int, max_columns: int) -> None:
        self._limit = max_record_bytes
        self._max_columns = max_columns
        # The file's first bytes, until they tell its format and line ends; None once they have.
        self._head: bytearray | None = bytearray()
        self._newline = b"\n"
        self._line_break = "\n"
        self._partial = bytearray()  # bytes after the last line end seen
        self._offset = 0  # byte offset in the file (BOM included) of the first line not yet taken
        self._lines = 0  # physical lines taken
        self.records = 0  # CSV records begun, blank ones included: the row numbers handed out
        self._open: list[str] = []  # lines of a record whose quoted cell is not closed yet
        self._open_bytes = 0  # their size, line ends included
        self._delimiter: str | None = None
        self._header: _Header | None = None
        # Address key → first row. Bounded by the rows of one file; see `read_contacts`.
        self._seen: dict[str, int] = {}

    def feed(self, chunk: bytes) -> Iterator[_Item]:
        if self._head is not None:
            self._head += chunk
            data = self._sniff(final=False)
            if data is None:
                return
            chunk = data
        end = chunk.rfind(self._newline)
        if end >= 0:
            block = bytes(self._partial) + chunk[:end] if self._partial else chunk[:end]
            self._partial.clear()
            yield from self._block(block)
            chunk = chunk[end + 1 :]
        # Checked before buffering, so an unterminated record never holds more than the limit.
        if self._open_bytes + len(self._partial) + len(chunk) > self._limit:
            raise self._too_long()
        self._partial += chunk

    def finish(self) -> Iterator[_Item]:
        if self._head is not None:
            yield from self.feed(self._sniff(final=True) or b"")
        if self._partial:
            last = bytes(self._partial)
            self._partial.clear()
            yield from self._block(last)
        if self._open:
            raise FileRejected(
                f"Row {self.records} opens a quoted cell that is never closed: a stray quote character?"
            )
        if self._header is None:
            raise FileRejected("The file is empty: it needs a header row naming an email column.")

    def _sniff(self, *, final: bool) -> bytes | None:
        """The head once it tells the format and line ends (or at the end), BOM removed; else None."""
        head = self._head
        assert head is not None
        if len(head) < 4 and not final:
            return None
        if head.startswith(_UTF16_BOMS):
            raise FileRejected(f"The file is in UTF-16, which is not supported: {_SAVE_AS}.")
        if head.startswith(_WORKBOOKS):
            raise FileRejected(f"This is an Excel workbook, not a CSV file: {_SAVE_AS}.")
        start = len(_UTF8_BOM) if head.startswith(_UTF8_BOM) else 0
        cr = head.find(b"\r", start)
        lf = head.find(b"\n", start)
        if cr >= 0 and (lf < 0 or cr < lf):
            if cr + 1 == len(head) and not final:
                return None  # CRLF or a lone CR: the next byte tells
            if cr + 1 < len(head) and head[cr + 1] != ord("\n"):
                # Classic Mac line ends (CR alone), still written by Excel's "CSV (Macintosh)".
                self._newline = b"\r"
                self._line_break = "\r"
        elif lf < 0 and not final:
            if len(head) - start > self._limit:
                raise self._too_long()
            return None
        self._head = None
        self._offset = start
        return bytes(head[start:])

    def _block(self, block: bytes) -> Iterator[_Item]:
        """Take complete lines: `block` holds them with the line ends between them.

        Decoding lines rather than chunks needs no incremental decoder: a line end byte is never
        part of a multi-byte character, so a character split between chunks is whole by now.
        """
        nul = block.find(b"\0")
        try:
            text = block.decode()
        except UnicodeDecodeError as exc:
            yield from self._refuse_bad_bytes(block, exc.start if nul < 0 else min(nul, exc.start))
            return
        if nul >= 0:
            yield from self._refuse_bad_bytes(block, nul)
            return
        lines = text.split(self._line_break)
        self._lines += len(lines)
        self._offset += len(block) + 1
        limit = self._limit
        for line in lines:
            # Characters are at most bytes, and bytes at most four times characters: most lines
            # need no encoding to be measured.
            size = len(line)
            if self._open_bytes + size > limit or (
                not line.isascii()
                and self._open_bytes + 4 * size > limit
                and self._open_bytes + len(line.encode()) > limit
            ):
                raise self._too_long()
            item = self._complete_line(line)
            if item is not None:
                yield item

    def _refuse_bad_bytes(self, block: bytes, bad: int) -> Iterator[_Item]:
        """Take the lines before the first NUL or invalid UTF-8 byte at `bad`, then refuse the file."""
        start = block.rfind(self._newline, 0, bad) + 1
        if start:
            yield from self._block(block[: start - 1])
        end = block.find(self._newline, bad)
        if self._open_bytes + (len(block) if end < 0 else end) - start > self._limit:
            raise self._too_long()  # as for any line, its size is the first thing checked
        row = self.records if self._open else self.records + 1
        where = f"line {self._lines + 1}, byte {self._offset + bad - start}"
        if block[bad] == 0:
            raise FileRejected(
                f"Row {row} ({where}) holds a NUL byte: this is not a text file, or it is in UTF-16; "
                f"{_SAVE_AS}."
            )
        raise FileRejected(
            f"Row {row} ({where}) is not valid UTF-8: the file is probably in an older encoding such as "
            f"Windows-1252; {_SAVE_AS}."
        )

    def _complete_line(self, text: str) -> _Item | None:
        """Take one physical line (without its line end); return the item of a record it completes."""
        if self._open:
            return self._continued(text)
        self.records += 1
        delimiter = self._delimiter or self._first_line(text)
        if delimiter is None:
            return None
        if '"' not in text:
            text = text.removesuffix("\r")
            if "\r" not in text and "\n" not in text:
                # Without quotes or line breaks the csv module would split at the delimiter only.
                return self._record(self.records, text.split(delimiter))
            return self._parsed(text, delimiter)  # which refuses a line break outside quotes
        if _ends_in_quotes(text, delimiter, quoted=False):
            self._open = [text]
            self._open_bytes = len(text.encode()) + 1
            return None
        return self._parsed(text, delimiter)

    def _continued(self, text: str) -> _Item | None:
        """Take a line that continues a quoted cell of the record begun on an earlier line."""
        delimiter = self._delimiter
        assert delimiter is not None
        self._open.append(text)
        if _ends_in_quotes(text, delimiter, quoted=True):
            self._open_bytes += len(text.encode()) + 1
            return None
        record = self._line_break.join(self._open)
        self._open = []
        self._open_bytes = 0
        return self._parsed(record, delimiter)

    def _first_line(self, text: str) -> str | None:
        """The delimiter, told by the first line that is not blank; None when it is not the header."""
        if not text.strip():
            return None
        self._delimiter = _delimiter_of(text)
        return None if _SEP_LINE.fullmatch(text) else self._delimiter

    def _too_long(self) -> FileRejected:
        row = self.records if self._open else self.records + 1
        limit = f"{self._limit // 1024} KiB" if self._limit % 1024 == 0 else f"{self._limit} bytes"
        return FileRejected(f"Row {row} is longer than {limit} — an unclosed quote?")

    def _parsed(self, record: str, delimiter: str) -> _Item | None:
        """The item of a complete record that needs the csv module: it has quotes or a line break."""
        try:
            cells = next(csv.reader((record,), delimiter=delimiter, strict=False), [])
        except csv.Error as exc:
            # Not strict, the module only refuses a line break outside quotes, and cells over its
            # size limit (128 KiB, more than a record may have unless `max_record_bytes` is raised).
            problem = "a line break outside quotes" if "new-line" in str(exc) else str(exc)
            if self._header is None:
                raise FileRejected(f"The header row is not valid CSV: {problem}.") from None
            return RowRejection(row=self.records, reason=f"row {self.records} is not valid CSV: {problem}")
        return self._record(self.records, cells)

    def _record(self, row: int, cells: list[str]) -> _Item | None:
        header = self._header
        if header is None:
            if not any(cell.strip() for cell in cells):
                return None
            self._header = self._read_header(cells)
            return None
        return self._row(row, cells, header)

    def _read_header(self, cells: list[str]) -> _Header:
        if len(cells) > self._max_columns:
            raise FileRejected(
                f"The header has {len(cells)} columns; at most {self._max_columns} are allowed."
            )
        keys = [cell.strip() for cell in cells]
        labels = [_label(key) for key in keys]
        first_of: dict[str, int] = {}
        for column, label in enumerate(labels):
            if not label:
                continue  # an unnamed column is ignored, as spreadsheets often add empty ones
            if label in first_of:
                raise FileRejected(
                    f'The header names the column "{keys[column]}" twice (columns {first_of[label] + 1} '
                    f"and {column + 1}): rename one of them."
                )
            first_of[label] = column
        # The first email-like column is the address; another one becomes an ordinary attribute.
        email = next((column for column, label in enumerate(labels) if label in _EMAIL_LABELS), None)
        if email is None:
            found = ", ".join(f'"{_shown(key)}"' for key in keys[:20] if key) or "none"
            if any("@" in key for key in keys):
                raise FileRejected(
                    "The first row must be a header naming the columns (such as email,name), but it "
                    f"holds an address. Columns found: {found}."
                )
            raise FileRejected(
                f'No email column: the header needs a column called "email". Columns found: {found}.'
            )
        name = next((first_of[label] for label in _NAME_LABELS if label in first_of), None)
        first_name: int | None = None
        last_name: int | None = None
        if name is None:
            first_name = next((c for c, label in enumerate(labels) if label in _FIRST_NAME_LABELS), None)
            last_name = next((c for c, label in enumerate(labels) if label in _LAST_NAME_LABELS), None)
        used = {email, name, first_name, last_name}
        attributes = tuple(
            (column, keys[column])
            for column, label in enumerate(labels)
            if label and column not in used and label not in _IGNORED_LABELS
        )
        return _Header(
            width=len(cells),
            email=email,
            name=name,
            first_name=first_name,
            last_name=last_name,
            attributes=attributes,
        )

    def _row(self, row: int, cells: list[str], header: _Header) -> _Item | None:
        address = cells[header.email].strip() if len(cells) == header.width else ""
        if not address and not any(cell.strip() for cell in cells):
            return None  # a blank line, or a spreadsheet's empty row: ",,,"
        if len(cells) != header.width:
            return RowRejection(
                row=row,
                reason=f"row {row} has {_cells(len(cells))} where the header has {header.width}",
            )
        email = _checked_address(row, address)
        if isinstance(email, RowRejection):
            return email
        name = header.name_of(cells)
        if len(name) > MAX_NAME_LENGTH:
            return RowRejection(
                row=row, reason=f"row {row}: the name has {len(name)} characters; at most {MAX_NAME_LENGTH}"
            )
        # An ASCII address without capitals is its own key: one string fewer a row.
        key = email if email.isascii() and email.islower() else email.lower()
        first = self._seen.get(key)
        if first is not None:
            return DuplicateRow(row=row, reason=f'row {row}: "{_shown(email)}" is a duplicate of row {first}')
        self._seen[key] = row
        return ImportedRow(
            row=row, email=email, email_key=key, name=name, attributes=header.attributes_of(cells)
        )


def _checked_address(row: int, address: str) -> str | RowRejection:
    if not address:
        return RowRejection(row=row, reason=f"row {row}: the email cell is empty")
    if address[0] == "'" and address[1:2] in _GUARDED_ADDRESS_STARTS:
        # Undo the formula guard of an export (and of people typing into Excel), which would
        # otherwise turn "-bob@example.com" into another, valid, address.
        address = address[1:]
    try:
        return normalise_address(address)
    except EmailNotValidError as exc:
        message = str(exc)
        if len(message) > _MESSAGE_CHARS:
            message = message[: _MESSAGE_CHARS - 1] + "…"
        return RowRejection(
            row=row, reason=f'row {row}: "{_shown(address)}" is not a valid address: {message}'
        )


def _ends_in_quotes(line: str, delimiter: str, *, quoted: bool) -> bool:
    """Whether `line` ends inside a quoted cell, so that its record continues on the next line.

    The states are those of CPython's `_csv` reader with doublequote on and strict off: a quote
    opens a quoted cell only as a cell's first character; inside, a doubled quote is a literal one
    and a single quote closes the cell; anything after the closing quote, up to the delimiter, is
    literal text, quotes included, as is every quote in a cell that did not start with one.
    """
    position = 0
    while True:
        if quoted:
            close = line.find('"', position)
            if close < 0:
                return True
            if line.startswith('"', close + 1):
                position = close + 2
                continue
            quoted = False
            position = close + 1
        elif line.startswith('"', position):
            quoted = True
            position += 1
            continue
        end = line.find(delimiter, position)
        if end < 0:
            return False
        position = end + 1


def _delimiter_of(first_line: str) -> str:
    sep = _SEP_LINE.fullmatch(first_line)
    if sep is not None:
        return sep.group(1)
    if "," in first_line:
        return ","
    semicolons = first_line.count(";")
    tabs = first_line.count("\t")
    if semicolons or tabs:
        return ";" if semicolons >= tabs else "\t"
    return ","  # a single column


def _cells(count: int) -> str:
    return "1 cell" if count == 1 else f"{count} cells"


def _label(header: str) -> str:
    return " ".join(header.replace("_", " ").casefold().split())


def _shown(text: str) -> str:
    """A cell quoted in a message: shortened, and with control characters made visible."""
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


# --- Export -----------------------------------------------------------------------------------


class ExportableContact(Protocol):
    """What an export reads of a contact: the ORM `Contact` and the wire `Contact` both fit."""

    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def attributes(self) -> Mapping[str, object]: ...
    @property
    def consent(self) -> str: ...
    @property
    def consent_source(self) -> str: ...
    @property
    def consent_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


def export_header(attribute_keys: Sequence[str]) -> bytes:
    """The first bytes of an export: a UTF-8 BOM and the header line.

    The BOM is what makes Excel read the file as UTF-8 rather than the local code page; other
    spreadsheets, and `read_contacts`, skip it. An attribute whose key is blank, or matches a fixed
    column or an earlier key (ignoring case), gets a " (2)" suffix, so that the file can be imported
    again (under that key).
    """
    return _UTF8_BOM + _encode_rows([_export_labels(attribute_keys)])


def export_row(contact: ExportableContact, attribute_keys: Sequence[str]) -> bytes:
    """One contact as a CSV line (CRLF), its columns in the order of `export_header`."""
    return _encode_rows([_export_cells(contact, attribute_keys)])


async def export_contacts(
    contacts: AsyncIterable[ExportableContact], attribute_keys: Sequence[str], *, rows_per_chunk: int = 500
) -> AsyncIterator[bytes]:
    """A whole export as byte chunks for a streamed response: the header, then `rows_per_chunk` rows each.

    Cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) are
    prefixed with an apostrophe, as OWASP advises for CSV injection: Excel hides the apostrophe
    and shows the text. The apostrophe is part of the file, so a re-import keeps it in names and
    attributes (only the email column drops it, see `read_contacts`); "-5" comes back as "'-5".
    """
    yield export_header(attribute_keys)
    batch: list[list[str]] = []
    async for contact in contacts:
        batch.append(_export_cells(contact, attribute_keys))
        if len(batch) >= rows_per_chunk:
            yield _encode_rows(batch)
            batch = []
    if batch:
        yield _encode_rows(batch)


def _export_labels(attribute_keys: Sequence[str]) -> list[str]:
    labels = list(EXPORT_COLUMNS)
    taken = {_label(column) for column in labels}
    for key in attribute_keys:
        label = key
        suffix = 2
        while not _label(label) or _label(label) in taken:  # an unnamed column would not come back
            label = f"{key} ({suffix})".strip()
            suffix += 1
        taken.add(_label(label))
        labels.append(_guarded(label))
    return labels


def _export_cells(contact: ExportableContact, attribute_keys: Sequence[str]) -> list[str]:
    attributes = contact.attributes
    cells = [
        contact.email,
        contact.name,
        str(contact.consent),
        contact.consent_source,
        _text(contact.consent_at),
        _text(contact.created_at),
    ]
    cells.extend(_text(attributes.get(key)) for key in attribute_keys)
    return [_guarded(cell) for cell in cells]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON writes them, not Python's "True"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str | int | float):
        return str(value)
    return msgspec.json.encode(value).decode()  # a list or object stored by an older client


def _guarded(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _encode_rows(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()
