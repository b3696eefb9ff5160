"""Document files by suffix: which reader turns a file into ``Document``s.

``documents.py`` reads and parses plain text (``.txt``, ``.md``); ``tei.py`` reads FRUS TEI
XML volumes (``.xml``) into the same ``Document`` type. This registry sits above both, so
both import only downward; ingest (``index.py``), eval sets and citation checks load files
through it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.documents import TEXT_SUFFIXES, Document, check_size, load_text_file
from assistant.errors import UserError

XML_SUFFIXES = (".xml",)


def _load_tei(path: Path) -> list[Document]:
    from assistant.tei import load_tei as read_volume  # lxml: not on an ask whose sources are text files

    return read_volume(path)


Loader = Callable[[Path], list[Document]]
LOADERS: dict[str, Loader] = {
    **dict.fromkeys(TEXT_SUFFIXES, load_text_file),
    **dict.fromkeys(XML_SUFFIXES, _load_tei),
}


def loader_for(path: Path) -> Loader:
    """The reader of a file by its suffix; a file named explicitly with another suffix is text."""
    return LOADERS.get(path.suffix.lower(), load_text_file)


def document_files(paths: list[Path]) -> list[Path]:
    """The document files named by ``paths`` (files, or folders searched recursively)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in LOADERS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not inside:
                raise UserError(f"no .txt, .md or .xml documents in folder: {path}")
            found.extend(inside)
        elif path.exists():
            found.append(path)
        else:
            raise UserError(f"no such file or folder: {path}")
    return found


def load_file(path: Path) -> list[Document]:
    """One file's documents: a text file is one document, a FRUS TEI volume many."""
    check_size(path)
    return loader_for(path)(path)


def load_documents(paths: list[Path], unique_ids: bool = True) -> list[Document]:
    """The documents in ``paths``; with ``unique_ids`` two files with one stem are an error
    (the index instead gives the second a distinct id: ``documents.assign_doc_ids``)."""
    docs = [doc for p in document_files(paths) for doc in load_file(p)]
    if unique_ids:
        seen: dict[str, str] = {}
        for doc in docs:
            if doc.doc_id in seen and seen[doc.doc_id] != doc.source:
                raise UserError(f"two documents share the id {doc.doc_id!r}: {seen[doc.doc_id]} and {doc.source}")
            seen[doc.doc_id] = doc.source
    return docs
