"""Citations, checked against their source before anything is shown.

A citation's quote must equal ``text[start:end]`` of its document as it is on disk
now (re-read, re-parsed); when the source is not on this machine (a shared Chroma
server), it must equal the same span of the chunk stored at ingest. A citation that
fails is dropped, never shown, and the answer says why.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from assistant.answer import Citation
from assistant.documents import read_text
from assistant.errors import UserError
from assistant.loaders import XML_SUFFIXES, load_file


@lru_cache(maxsize=64)
def _texts_in(path: str, mtime_ns: int) -> dict[str, str]:
    """{document source: text} of one file as it is now (mtime keys the cache)."""
    p = Path(path)
    if p.suffix.lower() not in XML_SUFFIXES:  # a text file is its document: no parsing (no NLTK on `ask`)
        return {str(p.resolve()): read_text(p)}
    return {d.source: d.text for d in load_file(p)}


def source_text(source: str) -> str | None:
    """The current text of a document by its ``source`` (``path`` or ``path#id``), or None."""
    path = source.split("#")[0]
    try:
        texts = _texts_in(path, os.stat(path).st_mtime_ns)
    except (OSError, UserError):
        return None
    if source in texts:
        return texts[source]
    return next(iter(texts.values())) if len(texts) == 1 and "#" not in source else None


def verify(citation: Citation, chunk_text: str | None = None, chunk_start: int = 0) -> bool:
    text = source_text(citation.source)
    if text is not None:
        return text[citation.start : citation.end] == citation.quote
    if chunk_text is not None:
        return chunk_text[citation.start - chunk_start : citation.end - chunk_start] == citation.quote
    return False
