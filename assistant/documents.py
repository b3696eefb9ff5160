"""Documents: loading text files and parsing the FRUS layout into spans.

A FRUS document as the seed and ``shared/corpus/frus1941`` lay it out::

    311.6121 Gorin, M. N./44: Telegram          <- file number: document kind

    The Acting Secretary of State to the ...     <- heading: sender "to" recipient

    Washington, December 7, 1941—4 p.m.          <- optional dateline ([Translation] may precede)

    352. Your 573 [574], March 23, ...           <- body paragraphs (telegram number leads)

    Welles                                       <- signature

    Notes:                                       <- optional footnotes, one per line
    [54] Not printed.

Every field, paragraph and sentence is a span into ``Document.text``, the file's
text exactly as read, so a citation can always be checked against its source.
Plain ``.txt``/``.md`` files without that layout are paragraphs and sentences only.
Which reader a file goes to (this one, or ``tei.py`` for XML) is ``loaders.py``'s choice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant.config import max_file_bytes
from assistant.errors import UserError
from assistant.sentences import split_sentences
from assistant.spans import Span, span_of

TEXT_SUFFIXES = (".txt", ".md")

MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]
_MONTH = "|".join(MONTHS)
_DATE = re.compile(rf"\b(?P<month>{_MONTH})\s+(?P<day>\d{{1,2}}),?\s+(?P<year>\d{{4}})\b")
_BLOCK = re.compile(r"[^\n]+(?:\n[ \t]*[^\s][^\n]*)*")  # lines up to a blank line
_FILE_LINE = re.compile(r"^\d{3}(?:\.\d+)?\b[^\n]*$")
_KIND = re.compile(r":\s+(?P<kind>[A-Za-z][A-Za-z ]*)$")
_TELEGRAM_NUMBER = re.compile(r"^(?P<n>\d{1,5})\.\s")
_NOTE = re.compile(r"^\[\d+\]\s")
_REPLY_TO = re.compile(
    r"\s*((?:Your|My|Our|Department[’']s|Embassy[’']s|Legation[’']s|Reference)\b[^\n]{0,160}?"
    r"(?:\d{1,2}(?::\d\d)?\s[ap]\.m\.|\bnoon\b|\bmidnight\b|\b1\d{3}\b))"
)


@dataclass(frozen=True)
class Paragraph:
    index: int
    start: int
    end: int
    text: str
    section: str  # "header" | "body" | "signature" | "notes"


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str
    paragraph: int


@dataclass
class Document:
    doc_id: str
    source: str
    text: str
    title: str = ""
    date: str | None = None  # ISO yyyy-mm-dd when the document states it
    fields: dict[str, Span] = field(default_factory=dict)
    paragraphs: list[Paragraph] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


# --- loading ---------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The file's text; a clear UserError for a missing, binary or non-UTF-8 file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"no such file or folder: {path}") from None
    except IsADirectoryError:
        raise UserError(f"expected a file, got a folder: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if b"\x00" in data:
        raise UserError(f"not a text file (binary content): {path}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text: {path} (invalid byte at offset {exc.start})") from None


def check_size(path: Path) -> None:
    """Refuse a file larger than ``ASSISTANT_MAX_FILE_MB`` before reading it."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # read_text names the problem
    limit = max_file_bytes()
    if size > limit:
        raise UserError(f"file too large to ingest: {path} ({size / 1e6:.1f} MB; the limit is {limit / 1e6:g} MB, "
                        "set ASSISTANT_MAX_FILE_MB to raise it)")


def load_text_file(path: Path) -> list[Document]:
    """A text file as one document (``loaders.load_file`` checks its size first)."""
    text = read_text(path)
    return [parse_document(text, doc_id=path.stem, source=str(path.resolve()))]


def is_empty(doc: Document) -> bool:
    """Nothing to index: no text but whitespace."""
    return not doc.text.strip()


def assign_doc_ids(docs: list[Document], manifest: dict[str, dict]) -> None:
    """Give each document an id unique in its collection, stable across re-ingests.

    A document keeps the id its source already has in the collection (``manifest``: id →
    record with ``source``). A new source gets its readable id (the file stem, or
    ``volume_xmlid``) when no other existing source holds it, else that id plus a short
    hash of its source path (``report-1a2b3c4d``): a second ``report.txt`` from another
    folder is a second document, never a replacement of the first. An id whose source
    file is gone from disk is taken over (a moved folder updates its documents).
    """
    by_source = {m.get("source"): i for i, m in manifest.items() if m.get("source")}
    taken: set[str] = set()
    for doc in docs:
        if doc.source in by_source:
            doc.doc_id = by_source[doc.source]
            taken.add(doc.doc_id)
    for doc in docs:
        if doc.source in by_source:
            continue
        owner = manifest.get(doc.doc_id)
        if doc.doc_id in taken or (owner is not None and _source_exists(owner.get("source", ""))):
            doc.doc_id = f"{doc.doc_id}-{hashlib.sha256(doc.source.encode('utf-8')).hexdigest()[:8]}"
        taken.add(doc.doc_id)


def _source_exists(source: str) -> bool:
    return bool(source) and Path(source.split("#")[0]).exists()


# --- parsing ---------------------------------------------------------------------------


def parse_document(text: str, doc_id: str, source: str, date: str | None = None) -> Document:
    doc = Document(doc_id=doc_id, source=source, text=text, date=date)
    blocks = [span_of(text, m.start(), m.end()) for m in _BLOCK.finditer(text)]
    blocks = [b for b in blocks if b.text]
    sections = ["body"] * len(blocks)

    i = 0
    if blocks and "\n" not in blocks[0].text and _FILE_LINE.match(blocks[0].text):
        i = _parse_file_header(doc, text, blocks, sections)
    elif blocks:
        i = _parse_title(doc, text, blocks, sections)

    # Footnotes: from a "Notes:" block to the end, one paragraph per note line.
    notes_at = next((j for j in range(i, len(blocks)) if blocks[j].text.startswith("Notes:")), len(blocks))
    body_end = notes_at
    if body_end - 1 >= i and _is_signature(blocks[body_end - 1].text) and body_end - 1 > i:
        doc.fields["signature"] = blocks[body_end - 1]
        sections[body_end - 1] = "signature"

    paragraphs: list[tuple[Span, str]] = [(b, s) for b, s in zip(blocks[:notes_at], sections[:notes_at])]
    paragraphs += [(span, "notes") for span in _note_lines(text, blocks[notes_at:])]

    for index, (span, section) in enumerate(paragraphs):
        doc.paragraphs.append(Paragraph(index, span.start, span.end, span.text, section))
        if section in ("body", "notes"):
            for s in split_sentences(text, span.start, span.end):
                doc.sentences.append(Sentence(s.start, s.end, s.text, index))

    _parse_telegram_numbers(doc)
    if doc.date is None and "dateline" in doc.fields:
        m = _DATE.search(doc.fields["dateline"].text)
        if m:
            doc.date = f"{int(m['year']):04d}-{MONTHS.index(m['month']) + 1:02d}-{int(m['day']):02d}"
    return doc


def _parse_file_header(doc: Document, text: str, blocks: list[Span], sections: list[str]) -> int:
    """A FRUS header (file line, heading, "[Translation]", dateline) → fields; the index of the first body block."""
    line = blocks[0]
    kind = _KIND.search(line.text)
    if kind:
        doc.fields["file_number"] = Span(line.start, line.start + kind.start(), line.text[: kind.start()])
        k0 = line.start + kind.start("kind")
        doc.fields["kind"] = Span(k0, line.end, text[k0 : line.end])
    else:
        doc.fields["file_number"] = line
    sections[0] = "header"
    i = 1
    if i < len(blocks) and "\n" not in blocks[i].text:
        _parse_heading(doc, blocks[i])
        sections[i] = "header"
        i += 1
    while i < len(blocks) and blocks[i].text.startswith("[Translation]"):
        sections[i] = "header"
        last = blocks[i].text.rsplit("\n", 1)[-1]
        if "\n" in blocks[i].text and _is_dateline(last):  # "[Translation]\nGuatemala [undated]. …"
            doc.fields["dateline"] = Span(blocks[i].end - len(last), blocks[i].end, last)
        i += 1
    if i < len(blocks) and _is_dateline(blocks[i].text):
        doc.fields["dateline"] = blocks[i]
        sections[i] = "header"
        i += 1
    return i


def _parse_title(doc: Document, text: str, blocks: list[Span], sections: list[str]) -> int:
    """A plain document's title; the index of the first body block."""
    first = blocks[0]
    if "\n" not in first.text and len(first.text) <= 120 and (
        first.text.startswith("#") or not first.text.endswith((".", "?", "!"))
    ):  # a title line ("# Class notes"): a header, not a sentence
        title = span_of(text, first.start + len(first.text) - len(first.text.lstrip("#")), first.end)
        doc.fields["heading"] = title
        doc.title = title.text
        sections[0] = "header"
        return 1
    doc.title = first.text.split("\n", 1)[0][:80]
    return 0


def _note_lines(text: str, blocks: list[Span]) -> list[Span]:
    """The footnote blocks' lines, without the "Notes:" label."""
    spans = []
    for b in blocks:
        offset = b.start
        for line in b.text.split("\n"):
            span = span_of(text, offset, offset + len(line))
            offset += len(line) + 1
            if span.text and span.text != "Notes:":
                spans.append(span)
    return spans


def _parse_telegram_numbers(doc: Document) -> None:
    """A telegram's own number and the number of the telegram it answers, from its first body paragraph."""
    first_body = next((p for p in doc.paragraphs if p.section == "body"), None)
    if first_body is not None and "kind" in doc.fields and "telegram" in doc.fields["kind"].text.lower():
        m = _TELEGRAM_NUMBER.match(first_body.text)
        if m:
            doc.fields["telegram_number"] = Span(first_body.start, first_body.start + m.end("n"), m.group("n"))
        # "352. Your 573 [574], March 23, 9 p.m." — the telegram this one answers.
        r = _REPLY_TO.match(first_body.text, m.end() if m else 0)
        if r:
            doc.fields["reply_to"] = Span(first_body.start + r.start(1), first_body.start + r.end(1), r.group(1))


def _parse_heading(doc: Document, heading: Span) -> None:
    """Heading → title, sender and recipient ("A (Name) to B", "Memorandum …, by A")."""
    doc.fields["heading"] = heading
    doc.title = heading.text
    t = heading.text
    by = re.search(r",? by (?=the |Mr\. |[A-Z])", t)
    if by and " to " not in t[: by.start()]:
        s0 = by.end()
        doc.fields["sender"] = Span(heading.start + s0, heading.end, t[s0:])
        return
    # "The Minister to Uruguay (Dawson) to the Secretary": split after the sender's "(Name)".
    paren = t.find(")")
    to = t.find(" to ", paren if paren >= 0 else 0)
    if to < 0 and paren >= 0:
        to = t.find(" to ")
    if to > 0:
        doc.fields["sender"] = Span(heading.start, heading.start + to, t[:to])
        r0 = to + len(" to ")
        doc.fields["recipient"] = Span(heading.start + r0, heading.end, t[r0:])


def _is_dateline(t: str) -> bool:
    return t.count("\n") <= 1 and len(t) <= 200 and bool(
        _DATE.search(t) or "[undated]" in t or "[Received" in t
        or re.search(rf"\b(?:{_MONTH})\s+\d{{1,2}}\b", t)
    ) and not _TELEGRAM_NUMBER.match(t)


def _is_signature(t: str) -> bool:
    return (
        "\n" not in t and len(t) <= 40 and len(t.split()) <= 5 and t[:1].isupper()
        and (not t.rstrip("]").endswith((".", ":", ",")) or re.search(r"\b[A-Z]\.$", t) is not None)
    )
