"""FRUS TEI volumes: one ``Document`` per ``<div type="document">``.

The Office of the Historian publishes FRUS as TEI XML, one file per volume
(``HistoryAtState/frus``, ``volumes/frus1941v06.xml``). Each document is rendered to
the same plain-text layout as the seed and ``shared/corpus/frus1941`` (file line,
heading, dateline, body paragraphs, signature, ``Notes:``), and that rendering is the
text every span and citation points into, so a quotation is checked against the
document exactly as the user is shown it. The date comes from the div's
``frus:doc-dateTime-min`` attribute, which the printed dateline may not state
("Guatemala [undated]").

Rendering rules (they reproduce the corpus files; see tests/test_tei.py):

- ``<note type="source">`` directly in the div is the file line, put first.
- ``<head>`` is the heading; consecutive ``<opener>`` elements (``[Translation]``,
  the dateline) form one block, one line each.
- ``<p>``, quotations, list items (``label item``), table rows and closers are
  paragraphs separated by a blank line; a block quotation or list inside a ``<p>``
  ends the paragraph before it.
- ``<signed>`` is its own paragraph (the signature).
- Footnotes (``<note n="…">``) leave the text and are listed under ``Notes:`` as
  ``[n] text`` in document order; page breaks vanish; ``<lb/>`` is a space;
  white space runs become one space.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from assistant.documents import Document, parse_document
from assistant.errors import UserError

TEI_NS = "http://www.tei-c.org/ns/1.0"
FRUS_NS = "http://history.state.gov/frus/ns/1.0"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
DATE_MIN = f"{{{FRUS_NS}}}doc-dateTime-min"

_WS = re.compile(r"[ \t\r\n]+")  # XML white space only: a no-break space is text
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

# Elements whose content is not text of the document as shown.
_SILENT = {"pb", "fw", "anchor", "milestone", "cb", "gap", "figure", "graphic"}
# Elements that are paragraphs (or hold paragraphs) when met between paragraphs.
_BLOCKS = {
    "p", "head", "opener", "closer", "seg", "dateline", "signed", "salute", "byline", "docAuthor",
    "quote", "list", "table", "lg", "l", "attachment", "postscript", "div", "floatingText", "label",
    "ab", "argument", "epigraph", "trailer", "sp",
}
# Elements whose own text is one paragraph (block children inside still split it).
_MIXED = {"p", "head", "seg", "dateline", "signed", "salute", "byline", "docAuthor", "label", "l", "ab", "trailer"}


def _local(el) -> str:
    """The element's name without namespace; "" for comments and processing instructions."""
    if not isinstance(el.tag, str):
        return ""
    return etree.QName(el).localname


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _is_block(el, *, in_paragraph: bool) -> bool:
    """Does ``el`` start a paragraph of its own? Inside a paragraph only block quotations,
    lists and tables do; an inline ``<quote>`` stays in the sentence."""
    name = _local(el)
    if name == "note":
        return not in_paragraph and not el.get("n")  # an unnumbered note between paragraphs is printed there
    if in_paragraph:
        if name == "quote":
            return "block" in (el.get("rend") or "") or any(_local(c) in ("p", "lg", "list") for c in el)
        return name in ("list", "table", "lg", "floatingText")
    return name in _BLOCKS


class _Renderer:
    """Renders one document div into paragraphs ("blocks") and its footnotes."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    # --- inline text --------------------------------------------------------------

    def _footnote(self, note) -> None:
        n = note.get("n") or "*"
        self.notes.append(f"[{n}] {_norm(self._inline(note, []))}")

    def _inline(self, el, out: list[str]) -> str:
        """Appends the text of ``el``'s content (not its tail) to ``out``; footnotes go to the notes."""
        if el.text:
            out.append(el.text)
        for child in el:
            self._inline_child(child, out)
        return "".join(out)

    def _inline_child(self, child, out: list[str]) -> None:
        name = _local(child)
        if name == "note":
            self._footnote(child)
        elif name == "lb":
            out.append(" ")
        elif name in _BLOCKS:  # a paragraph or list inside a footnote: keep the words apart
            out.append(" ")
            self._inline(child, out)
            out.append(" ")
        elif name and name not in _SILENT:
            self._inline(child, out)
        if child.tail:
            out.append(child.tail)

    # --- blocks -------------------------------------------------------------------

    def _mixed(self, el, blocks: list[str]) -> None:
        """Paragraph-like content: inline runs are paragraphs, a block quotation or list splits them."""
        run: list[str] = [el.text or ""]
        for child in el:
            if _is_block(child, in_paragraph=True):
                self._flush(run, blocks)
                self._block(child, blocks)
                run = [child.tail or ""]
            else:
                self._inline_child(child, run)
        self._flush(run, blocks)

    @staticmethod
    def _flush(run: list[str], blocks: list[str]) -> None:
        text = _norm("".join(run))
        if text:
            blocks.append(text)

    def _container(self, el, blocks: list[str], skip=None) -> None:
        """Paragraphs in order; loose text is a paragraph; consecutive openers
        ([Translation] and the dateline) are one block, a line each."""
        run: list[str] = [el.text or ""]
        openers: list = []
        for child in el:
            name = _local(child)
            if child is skip or not name or name in _SILENT:
                run.append(child.tail or "")
                continue
            if name == "opener":
                if _norm("".join(run)):
                    self._emit(run, openers, blocks)
                openers.append(child)
                run = [child.tail or ""]
            elif _is_block(child, in_paragraph=False):
                self._emit(run, openers, blocks)
                self._block(child, blocks)
                run = [child.tail or ""]
            else:
                self._inline_child(child, run)
        self._emit(run, openers, blocks)

    def _emit(self, run: list[str], openers: list, blocks: list[str]) -> None:
        """The pending openers (one block, a line each), then the loose text ``run`` (a paragraph)."""
        text = _norm("".join(run))
        if openers:
            lines: list[str] = []
            for opener in openers:
                self._container(opener, lines)
            if lines:
                blocks.append("\n".join(lines))
            openers.clear()
        if text:
            blocks.append(text)

    def _block(self, el, blocks: list[str]) -> None:
        name = _local(el)
        if name in _MIXED or name == "note":
            self._mixed(el, blocks)
        elif name == "list":
            self._list(el, blocks)
        elif name == "table":
            for row in el.iter(f"{{{TEI_NS}}}row"):
                cells = [_norm(self._inline(cell, [])) for cell in row if _local(cell) == "cell"]
                line = "\t".join(c for c in cells if c)
                if line:
                    blocks.append(line)
        else:  # quote, closer, opener, attachment, postscript, div, …
            self._container(el, blocks)

    def _list(self, el, blocks: list[str]) -> None:
        """Each item is a paragraph, led by its label ("1) The initiation …")."""
        label = ""
        for child in el:
            name = _local(child)
            if name == "label":
                label = _norm(self._inline(child, []))
            elif name == "item":
                items: list[str] = []
                self._mixed(child, items)
                if label:
                    items = [f"{label} {items[0]}", *items[1:]] if items else [label]
                blocks.extend(items)
                label = ""
            elif name and name not in _SILENT:
                self._block(child, blocks)
        if label:
            blocks.append(label)

    # --- the document ---------------------------------------------------------------

    def render(self, div) -> str:
        source = next(
            (c for c in div if _local(c) == "note" and c.get("type") == "source" and not c.get("n")), None
        )
        blocks: list[str] = []
        if source is not None:
            self._flush([self._inline(source, [])], blocks)
        self._container(div, blocks, skip=source)
        text = "\n\n".join(blocks)
        if self.notes:
            text += "\n\nNotes:\n" + "\n".join(self.notes)
        return text + "\n"


def render_document(div) -> str:
    """One ``<div type="document">`` as plain text in the corpus layout."""
    return _Renderer().render(div)


def document_date(div) -> str | None:
    """ISO date (yyyy-mm-dd) of the document: ``frus:doc-dateTime-min``, else the dateline's date."""
    candidates = [div.get(DATE_MIN)]
    for date in div.iter(f"{{{TEI_NS}}}date"):
        candidates += [date.get("when"), date.get("notBefore"), date.get("from")]
        break
    for value in candidates:
        if value and _ISO_DATE.match(value):
            return value[:10]
    return None


def parse_tei(path: Path):
    """The parsed volume tree; a one-line UserError naming the file and line when it is not XML."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=False)
    try:
        return etree.parse(str(path), parser)
    except OSError as exc:
        if not path.exists():
            raise UserError(f"no such file or folder: {path}") from None
        raise UserError(f"cannot read {path}: {exc}") from None
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno is not None else "?"
        message = exc.msg.split(", line ")[0] if exc.msg else "not well-formed"
        raise UserError(f"not well-formed XML: {path}, line {line}: {message}") from None


def load_tei(path: Path) -> list[Document]:
    """The documents of a FRUS TEI volume, in volume order."""
    path = Path(path)
    root = parse_tei(path).getroot()
    if etree.QName(root).namespace != TEI_NS:
        raise UserError(f"not a TEI file (root element is not in the {TEI_NS} namespace): {path}")
    divs = root.findall(f".//{{{TEI_NS}}}div[@type='document']")
    if not divs:
        raise UserError(f'no <div type="document"> in TEI file: {path}')
    volume = path.stem
    source_path = str(path.resolve())
    documents: list[Document] = []
    for number, div in enumerate(divs, start=1):
        xml_id = div.get(XML_ID) or div.get("n") or f"doc{number}"
        text = render_document(div)
        documents.append(
            parse_document(text, doc_id=f"{volume}_{xml_id}", source=f"{source_path}#{xml_id}",
                           date=document_date(div))
        )
    return documents
