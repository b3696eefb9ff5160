"""Chunks: the passages that are indexed and retrieved.

Two kinds, both spans of ``Document.text`` (``doc.text[start:end] == chunk.text``):

- body windows: consecutive sentences of one paragraph, never cutting a sentence,
  overlapping by one sentence so every sentence is seen with a neighbour;
- structural passages: one per header field (sender, recipient, signature, file
  number, telegram number, dateline, document kind). Their ``text`` is the verbatim
  field; their ``search_text`` says what the field is ("Signed Welles (signature)…")
  so a question like "Who signed this telegram?" finds it. Only ``text`` is ever quoted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from assistant.documents import Document

CHUNKER_VERSION = "windows-v3"
MAX_WINDOW_CHARS = 700
MAX_WINDOW_SENTENCES = 3

# What each header field is, in the words people ask with. "{v}" is the verbatim field.
FIELD_DESCRIPTIONS = {
    "sender": "Sent by {v} (the sender, author, writer; from whom; his title and position{signed}).",
    "recipient": "Sent to {v} (the recipient, addressee; to whom it was addressed; who received it).",
    "signature": "Signed {v} (the signature; who signed it; the name of the sender{sender}).",
    "file_number": "File number {v} (the State Department decimal file reference of this document).",
    "telegram_number": "Telegram number {v} (the number of this telegram).",
    "reply_to": "In reply to {v} (the earlier telegram this one answers, replies to and refers to).",
    "dateline": "Dated {v} (the date, time and place it was sent).",
    "kind": "Document type: {v} (what kind of document this is).",
}


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    source: str
    title: str
    date: str | None
    kind: str  # "body" | "notes" | one of FIELD_DESCRIPTIONS
    paragraph: int
    start: int
    end: int
    text: str
    search_text: str
    sentences: tuple[tuple[int, int], ...]  # (start, end) of each sentence, in document offsets

    def metadata(self) -> dict:
        """Chroma metadata (scalars only)."""
        meta = {
            "doc_id": self.doc_id, "source": self.source, "title": self.title, "kind": self.kind,
            "paragraph": self.paragraph, "start": self.start, "end": self.end,
            "sentences": json.dumps(self.sentences), "search_text": self.search_text,
        }
        if self.date:
            meta["date"] = self.date
            meta["date_int"] = int(self.date.replace("-", ""))
        return meta

    @classmethod
    def from_record(cls, id: str, text: str, meta: dict) -> Chunk:
        return cls(
            id=id, doc_id=meta["doc_id"], source=meta["source"], title=meta.get("title", ""),
            date=meta.get("date"), kind=meta["kind"], paragraph=int(meta["paragraph"]),
            start=int(meta["start"]), end=int(meta["end"]), text=text,
            search_text=meta.get("search_text", text),
            sentences=tuple(tuple(s) for s in json.loads(meta["sentences"])),
        )


def chunk_document(doc: Document) -> list[Chunk]:
    return list(iter_chunks(doc))


def iter_chunks(doc: Document) -> Iterator[Chunk]:
    """The document's chunks one at a time: ingest writes them in slices, so a 21 MB file
    never holds its ~130,000 chunks (each with its text and search text) at once."""
    key = f"{doc.doc_id}@{doc.sha256[:12]}"

    def make(kind: str, paragraph: int, start: int, end: int, search_text: str, sentences) -> Chunk:
        return Chunk(
            id=f"{key}:{kind}:{start}-{end}", doc_id=doc.doc_id, source=doc.source, title=doc.title,
            date=doc.date, kind=kind, paragraph=paragraph, start=start, end=end,
            text=doc.text[start:end], search_text=search_text, sentences=tuple(sentences),
        )

    signature = doc.fields.get("signature")
    sender = doc.fields.get("sender")
    for name, template in FIELD_DESCRIPTIONS.items():
        span = doc.fields.get(name)
        if span is None:
            continue
        search = template.format(
            v=span.text,
            signed=f"; signed {signature.text}" if signature is not None else "",
            sender=f", {sender.text}" if sender is not None else "",
        )
        paragraph = next((p.index for p in doc.paragraphs if p.start <= span.start < p.end), 0)
        yield make(name, paragraph, span.start, span.end, search, [(span.start, span.end)])

    by_paragraph: dict[int, list] = {}
    for s in doc.sentences:
        by_paragraph.setdefault(s.paragraph, []).append(s)
    context = document_context(doc)
    for paragraph, sents in sorted(by_paragraph.items()):
        kind = "notes" if doc.paragraphs[paragraph].section == "notes" else "body"
        for window in _windows(sents):
            start, end = window[0].start, window[-1].end
            text = doc.text[start:end]
            # Keyword search sees the document's heading and date with every window, so
            # "Hull's telegram of January 16" finds the windows of that telegram.
            search = f"{context}\n{text}" if context else text
            yield make(kind, paragraph, start, end, search, [(s.start, s.end) for s in window])


def document_context(doc: Document) -> str:
    """What identifies a document among many: heading, dateline, file number."""
    parts = [doc.title]
    for name in ("dateline", "file_number"):
        if name in doc.fields:
            parts.append(doc.fields[name].text)
    return " — ".join(p for p in parts if p)


def _windows(sents: list) -> list[list]:
    """Greedy windows of whole sentences, each next window starting at the last sentence of the previous."""
    windows: list[list] = []
    i = 0
    while i < len(sents):
        window = [sents[i]]
        j = i + 1
        while (
            j < len(sents) and len(window) < MAX_WINDOW_SENTENCES
            and sents[j].end - window[0].start <= MAX_WINDOW_CHARS
        ):
            window.append(sents[j])
            j += 1
        windows.append(window)
        if j >= len(sents):
            break
        i = j - 1 if len(window) > 1 else j  # overlap one sentence
    return windows
