"""The chat page: a Gradio app for the classroom projector.

The chat (answers with inline [n] markers) sits beside a source panel that shows the
document itself with the cited sentences highlighted, so the class reads the primary
source rather than the machine's paraphrase. Entry points: ``build_app(assistant)``
returns the ``gr.Blocks``; ``serve(...)`` opens the index and serves it on 127.0.0.1.

Everything the page shows that came from a person or a document is HTML-escaped here
(``html.escape``), before Gradio's own sanitizer sees it. Nothing is fetched from
outside the machine: no share link, no analytics, no CDN, no web fonts.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant.answer import Answer, Citation, Passage, display_source
from assistant.citations import source_text
from assistant.config import check_question
from assistant.errors import UserError

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio runs every event inside a switch of matplotlib's backend to "agg" (it imports
# matplotlib for it); with no backend named, matplotlib finds one by importing pyplot, and
# the first answer paid for it (~0.35 s CPU). The page draws no plots: name the one Gradio sets.
os.environ.setdefault("MPLBACKEND", "agg")

import gradio as gr  # (imported after the switches above)

log = logging.getLogger(__name__)

EXAMPLES = (
    "What did the Judge require?",
    "Who signed this telegram?",
    "What did the Department expect in return for Gorin's release?",
    "In what year was this sent?",
)
STATIC_DIR = Path(__file__).with_name("static")
CSS_PATH = STATIC_DIR / "chat_page.css"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
FEEDBACK_FILE = "feedback.jsonl"
# Extractive answers arrive whole; the page reveals them a few words at a time so the
# class sees the answer being read out. Zero turns the pacing off (tests).
STREAM_DELAY_S = 0.03

_log = logging.getLogger(__name__)
_EXPORT_DIR = Path(tempfile.gettempdir()) / "assistant-chat-exports"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~])")  # "<", ">", "&": html.escape
_ESCAPED_MARKER = re.compile(r"\\\[(\d{1,3})\\\]")  # "[n]" after escape_markdown


# --- rendering (pure functions: Answer -> escaped HTML / Markdown) ---------------------


def escape_markdown(text: str) -> str:
    """Text shown as itself in the chat: HTML-escaped, Markdown punctuation disarmed."""
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=True)


def _label(c: Citation) -> str:
    """How a citation names its document for a reader: its title and date."""
    title = c.title or c.doc_id
    return f"{title}, {c.date}" if c.date else title


def _span_tip(c: Citation) -> str:
    """The exact place of a citation (kept in a tooltip, not in the reader's way)."""
    return f"{display_source(c.source)} · chars {c.start}–{c.end}"


def chat_message(answer: Answer, index: int = -1) -> str:
    """The assistant's chat bubble for ``answer``: escaped text, clickable [n] markers.

    Each cited quotation rides along, hidden, in ``span.cite-quotes``: the page shows it
    under the answer when [n] is tapped on a phone, or in a popover on hover and focus.
    """
    body = escape_markdown(answer.answer)
    if answer.citations:
        known = {c.n for c in answer.citations}

        def link(m: re.Match) -> str:
            n = int(m.group(1))
            if n not in known:
                return m.group(0)
            # the sanitizer keeps href, not data-*: the answer and citation ride in it
            return f'<a class="cite-ref" href="#answer-{index}-cite-{n}">&#91;{n}&#93;</a>'

        body = _ESCAPED_MARKER.sub(link, body)
    parts = []
    if answer.abstained:
        parts.append('<span class="abstained-label">Not in the source</span>')
    parts.append(body)
    if answer.notice:
        parts.append(f'<br><span class="notice">{escape_markdown(answer.notice)}</span>')
    if answer.citations:
        quotes = "".join(
            f'<span class="cite-quote cq-{c.n}"><b>&#91;{c.n}&#93;</b> “{escape_markdown(c.quote)}” '
            f'<span class="cite-src">— {escape_markdown(_label(c))}</span></span>'
            for c in answer.citations
        )
        parts.append(f'<span class="cite-quotes">{quotes}</span>')
    return " ".join(parts[:2]) + "".join(parts[2:])


def user_message(answer: Answer) -> str:
    """The question's chat bubble; a rewritten follow-up shows how it was understood."""
    text = escape_markdown(answer.question)
    if answer.resolved_question and answer.resolved_question.strip() != answer.question.strip():
        text += f'<br><span class="understood-as">understood as: {escape_markdown(answer.resolved_question)}</span>'
    return text


def chat_messages(answers: Sequence[Answer]) -> list[dict]:
    """The chatbot's messages for a conversation: question, answer, question, answer…"""
    messages: list[dict] = []
    for index, answer in enumerate(answers):
        messages.append({"role": "user", "content": user_message(answer)})
        messages.append({"role": "assistant", "content": chat_message(answer, index)})
    return messages


def highlight(text: str, spans: Sequence[tuple[int, int, int, str]]) -> str:
    """``text`` HTML-escaped, with ``<mark>`` around each (start, end, n, kind) span.

    Spans may overlap or nest: the text is cut at every span boundary and each piece is
    marked with all the citations covering it; the first piece of citation n carries the
    anchor ``src-{kind}-{n}`` that a click on the citation scrolls into view.
    """
    spans = [(max(0, s), min(len(text), e), n, k) for s, e, n, k in spans if 0 <= s < e <= len(text)]
    cuts = sorted({0, len(text), *(s for s, _, _, _ in spans), *(e for _, e, _, _ in spans)})
    out: list[str] = []
    anchored: set[tuple[int, str]] = set()
    for a, b in itertools.pairwise(cuts):
        piece = html.escape(text[a:b], quote=True)
        covering = [(n, k) for s, e, n, k in spans if s <= a and b <= e]
        if not covering:
            out.append(piece)
            continue
        anchors = "".join(
            f'<span class="anchor" id="src-{k}-{n}"></span>'
            for n, k in covering if (n, k) not in anchored
        )
        anchored.update(covering)
        kinds = {k for _, k in covering}
        cls = "cite" if "cite" in kinds else "related"
        numbers = " ".join(str(n) for n, _ in covering)
        classes = " ".join([cls, *(f"{k}-{n}" for n, k in covering)])
        out.append(f'{anchors}<mark class="{classes}" data-cites="{numbers}" tabindex="-1">{piece}</mark>')
    return "".join(out)


def _citation_items(citations: Sequence[Citation], kind: str) -> str:
    items = []
    for c in citations:
        tip = html.escape(_span_tip(c))
        items.append(
            f'<li><a class="cite-link" href="#src-{kind}-{c.n}" data-target="src-{kind}-{c.n}" title="{tip}">'
            f"[{c.n}] {html.escape(_label(c))}</a>"
            f"<blockquote>“{html.escape(c.quote)}”</blockquote></li>"
        )
    css = "citations related" if kind == "related" else "citations"
    label = "Closest passages" if kind == "related" else "Citations"
    # tabindex: the list scrolls when long, so the keyboard must be able to reach it
    return f'<ol class="{css}" aria-label="{label}" tabindex="0">{"".join(items)}</ol>'


def _document_article(doc: Any, spans: Sequence[tuple[int, int, int, str]]) -> str:
    title = getattr(doc, "title", "") or doc.doc_id
    # the title usually opens the document text itself: print it once
    heading = "" if title in doc.text[:400] else f"<h3>{html.escape(title)}</h3>"
    meta = []
    if getattr(doc, "date", None):
        meta.append(doc.date)
    tip = html.escape(display_source(doc.source))
    meta_html = f'<div class="meta" title="{tip}">{html.escape(" · ".join(meta))}</div>' if meta else ""
    return (
        f'<article class="document" data-doc="{html.escape(doc.doc_id)}" aria-label="{html.escape(title)}">'
        f"{heading}{meta_html}"
        f'<div class="document-text">{highlight(doc.text, spans)}</div></article>'
    )


def _documents(body: str) -> str:
    # focusable, so the keyboard can scroll it (WCAG scrollable-region-focusable)
    return f'<div class="documents" tabindex="0" role="region" aria-label="Source document">{body}</div>'


def _single_document(documents: Mapping[str, Any]) -> str:
    only = next(iter(documents), None) if len(documents) == 1 else None
    doc = documents.get(only) if only is not None else None
    return _document_article(doc, []) if doc is not None else ""


def source_panel(
    answer: Answer | None, documents: Mapping[str, Any], answer_index: int = -1, announce: str | None = None,
) -> str:
    """The source panel: status, citation list, and each cited document highlighted.

    ``announce``: the text a screen reader is told once the answer is complete (the page
    copies it into its live region).
    """
    if answer is None:
        intro = '<div class="status idle">Ask a question: the source appears here with the cited sentences highlighted.</div>'
        return f'<div class="source-panel" data-answer="none">{intro}{_documents(_single_document(documents))}</div>'

    if answer.abstained:
        cites, kind = answer.related, "related"
        status = (
            '<div class="status abstained">Not answered by the source. '
            + ("The closest passages are underlined below." if cites else "No related passage was found.")
            + "</div>"
        )
    else:
        cites, kind = answer.citations, "cite"
        s = "" if len(cites) == 1 else "s"
        status = f'<div class="status answered">Answer with {len(cites)} citation{s}: select one to see it in the source.</div>'

    articles = []
    order: list[str] = []
    for c in cites:
        if c.doc_id not in order:
            order.append(c.doc_id)
    for doc_id in order:
        doc = documents.get(doc_id)
        if doc is None:
            continue
        spans = [(c.start, c.end, c.n, kind) for c in cites if c.doc_id == doc_id and doc.text[c.start:c.end] == c.quote]
        articles.append(_document_article(doc, spans))
    back = '<a class="back-to-answer" href="#chat">Back to the answer (Esc)</a>'
    said = f'<p class="announce" hidden>{html.escape(announce)}</p>' if announce else ""
    return (
        f'<div class="source-panel" data-answer="{answer_index}">{status}{said}'
        f"{_citation_items(cites, kind) if cites else ''}{back}"
        f'{_documents("".join(articles))}</div>'
    )


def answering_panel(question: str, documents: Mapping[str, Any]) -> str:
    """The source panel while an answer is being written: no stale citations."""
    status = f'<div class="status answering">Answering “{html.escape(question[:120])}”…</div>'
    return f'<div class="source-panel" data-answer="pending">{status}{_documents(_single_document(documents))}</div>'


def retrieval_details(answer: Answer | None) -> str:
    """The retrieved passages with their scores, for explaining retrieval to a class."""
    if answer is None:
        return '<div class="retrieval-details"><p class="summary">No question asked yet.</p></div>'
    t = answer.timings_ms or {}
    timing = ", ".join(f"{html.escape(str(k))} {float(v):.0f} ms" for k, v in t.items() if isinstance(v, (int, float)))
    summary = (
        f'<p class="summary">Searched for: <em>{html.escape(answer.resolved_question or answer.question)}</em>'
        f" · mode: {html.escape(answer.mode)}" + (f" · {timing}" if timing else "") + "</p>"
    )
    rows = []
    for rank, p in enumerate(answer.passages, 1):
        dense = "" if p.dense_rank is None else str(p.dense_rank)
        bm25 = "" if p.bm25_rank is None else str(p.bm25_rank)
        text = p.text if len(p.text) <= 400 else p.text[:400] + "…"
        rows.append(
            f'<tr><td class="num">{rank}</td><td class="num">{p.score:.4f}</td><td class="num">{dense}</td>'
            f'<td class="num">{bm25}</td><td>{html.escape(p.kind)}</td>'
            f'<td class="num">{p.start}–{p.end}</td><td class="passage">{html.escape(text)}</td></tr>'
        )
    table = (
        "<table><thead><tr><th>#</th><th>score</th><th>dense rank</th><th>BM25 rank</th><th>kind</th>"
        f"<th>chars</th><th>passage</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return f'<div class="retrieval-details" tabindex="0" role="region" aria-label="Retrieved passages">{summary}{table}</div>'


_MD_INLINE = re.compile(r"([\\`*_\[\]()!~|])")  # what can start a link, image, emphasis or code


def export_text(text: str, *, keep_markers: bool = False) -> str:
    """``text`` for the exported Markdown: shown as itself, never as markup.

    ``html.escape`` disarms tags (``<img onerror>``, ``<javascript:…>`` autolinks); the
    backslashes disarm Markdown links and images (``[x](javascript:…)``); line breaks
    become spaces so a question cannot open a block of its own.
    """
    flat = " ".join(text.split())
    out = html.escape(_MD_INLINE.sub(r"\\\1", flat), quote=False)
    return _ESCAPED_MARKER.sub(r"[\1]", out) if keep_markers else out


def conversation_markdown(answers: Sequence[Answer]) -> str:
    """The conversation as Markdown, each answer followed by its numbered citations.

    Everything a person or a document wrote goes through :func:`export_text`.
    """
    lines = ["# Conversation with the telegram assistant", ""]
    lines.append(f"Exported {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.")
    for i, a in enumerate(answers, 1):
        lines += ["", f"## {i}. {export_text(a.question)}", ""]
        if a.resolved_question and a.resolved_question.strip() != a.question.strip():
            lines += [f"_Understood as: {export_text(a.resolved_question)}_", ""]
        lines += [export_text(a.answer, keep_markers=True), ""]
        cites = a.citations if not a.abstained else a.related
        if cites:
            lines.append("Closest passages:" if a.abstained else "Citations:")
            lines.append("")
            for c in cites:
                where = export_text(f"{display_source(c.source)}, chars {c.start}–{c.end}")
                lines.append(f"\\[{c.n}\\] {export_text(_label(c))}: “{export_text(c.quote)}” ({where})")
    return "\n".join(lines) + "\n"


def write_export(answers: Sequence[Answer]) -> str:
    _EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = _EXPORT_DIR / uuid.uuid4().hex[:12]  # one folder per export: the file keeps a clean name
    folder.mkdir()
    path = folder / f"conversation-{stamp}.md"
    path.write_text(conversation_markdown(answers), encoding="utf-8")
    return str(path)


# --- feedback ----------------------------------------------------------------------------


class FeedbackLog:
    """Thumbs up/down appended to a local JSONL file, one object per vote.

    Bounded: a record is at most ``MAX_RECORD_CHARS`` long (long texts are cut), and a
    browser session may append at most ``MAX_PER_SESSION`` records, however its votes
    reach the server (the page or the queue API called directly).
    """

    MAX_PER_SESSION = 100
    MAX_TEXT_CHARS = 4000
    MAX_CITATIONS = 20
    MAX_RECORD_CHARS = 16_000
    VOTES = ("up", "down", "undo")

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._per_session: dict[str, int] = {}

    def record(self, answer: Answer, vote: str) -> dict:
        if vote not in self.VOTES:
            raise ValueError(f"unknown vote {vote!r}")
        cut = self.MAX_TEXT_CHARS
        return {
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "vote": vote,
            "question": answer.question[:cut],
            "resolved_question": (answer.resolved_question or "")[:cut],
            "answer": answer.answer[:cut],
            "abstained": answer.abstained,
            "citations": [{"doc_id": str(c.doc_id)[:200], "start": c.start, "end": c.end}
                          for c in answer.citations[: self.MAX_CITATIONS]],
        }

    def append(self, answer: Answer, vote: str, session: str | None = None) -> dict | None:
        """Append one vote; None (nothing written) once ``session`` has used its share."""
        record = self.record(answer, vote)
        line = json.dumps(record, ensure_ascii=False)
        if len(line) > self.MAX_RECORD_CHARS:  # cannot happen with the cuts above; refuse anyway
            return None
        with self._lock:
            if session is not None:
                used = self._per_session.get(session, 0)
                if used >= self.MAX_PER_SESSION:
                    return None
                self._per_session[session] = used + 1
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        return record


# --- the conversation kept in the browser ------------------------------------------------

MAX_STORED_ANSWERS = 50


def answer_to_json(answer: Answer) -> dict:
    """An answer as plain data for the browser's local storage (source paths as recorded)."""
    from dataclasses import asdict

    d = asdict(answer)
    d["timings_ms"] = {}
    return d


def answer_from_json(data: Mapping[str, Any]) -> Answer:
    """The inverse of :func:`answer_to_json`; raises on anything malformed."""
    def cites(items) -> tuple[Citation, ...]:
        return tuple(Citation(**{k: v for k, v in dict(c).items() if k in Citation.__dataclass_fields__})
                     for c in items or ())

    passages = []
    for p in data.get("passages") or ():
        p = {k: v for k, v in dict(p).items() if k in Passage.__dataclass_fields__}
        p["sentences"] = tuple(tuple(x) for x in p.get("sentences") or ())
        passages.append(Passage(**p))
    answer = Answer(
        question=str(data["question"]),
        answer=str(data["answer"]),
        abstained=bool(data["abstained"]),
        citations=cites(data.get("citations")),
        related=cites(data.get("related")),
        lead=data.get("lead"),
        resolved_question=str(data.get("resolved_question") or ""),
        mode=str(data.get("mode") or "extractive"),
        passages=tuple(passages),
        notice=data.get("notice"),
    )
    check_question(answer.question)
    return answer


def restore_answers(stored: Any) -> list[Answer]:
    """The conversation saved in the browser, or [] when there is none or it is unreadable."""
    if not isinstance(stored, list):
        return []
    try:
        return [answer_from_json(d) for d in stored[-MAX_STORED_ANSWERS:]]
    except (KeyError, TypeError, ValueError, UserError):
        return []


# --- the assistant behind the page -----------------------------------------------------


@dataclass(frozen=True)
class SourceDocument:
    """What the source panel shows of a document: its text as it is on disk now."""

    doc_id: str
    source: str
    title: str
    date: str | None
    text: str


class SourceLibrary(Mapping):
    """The index's documents by id, their text read (and cached) when first shown.

    Only documents listed in the index's manifest are read, from the source path
    recorded at ingest: nothing the page receives from a browser names a file.
    """

    def __init__(self, manifest: Mapping[str, Mapping[str, Any]]):
        self._manifest = {k: dict(v) for k, v in manifest.items()}

    def __getitem__(self, doc_id: str) -> SourceDocument:
        meta = self._manifest[doc_id]
        text = source_text(meta["source"])
        if text is None:  # e.g. a shared Chroma server whose files are elsewhere
            raise KeyError(doc_id)
        return SourceDocument(doc_id, meta["source"], meta.get("title") or "", meta.get("date") or None, text)

    def __iter__(self):
        return iter(self._manifest)

    def __len__(self) -> int:
        return len(self._manifest)


def _library_of(assistant: Any) -> Mapping[str, Any]:
    """The documents behind ``assistant``, for the source panel."""
    docs = getattr(assistant, "documents", None)
    if isinstance(docs, Mapping):
        return docs
    index = getattr(assistant, "index", None)
    if index is not None and hasattr(index, "manifest"):
        return SourceLibrary(index.manifest())
    return {}


def _index_dir(assistant: Any) -> Path | None:
    settings = getattr(getattr(assistant, "index", None), "settings", None)
    index_dir = getattr(settings, "index_dir", None)
    return Path(index_dir) if index_dir else None


class _Answerer:
    """Serialises calls into the assistant (one model, one index) and paces streaming.

    ``Assistant.stream`` may yield the whole extractive answer at once, word by word:
    it is drawn under the lock, then replayed a few words at a time outside it so the
    answer visibly appears while other sessions use the assistant. A slow stream (an
    LLM writing) is passed on live.
    """

    LIVE_AFTER_S = 0.5  # a stream still running after this is a live one
    STEP_CHARS = 24  # show the growing text in steps of about this many characters

    def __init__(self, assistant: Any, stream_delay: float):
        self.assistant = assistant
        self.stream_delay = stream_delay
        self._lock = threading.Lock()

    def ask(self, question: str, history: list[Answer]) -> Answer:
        with self._lock:
            return self.assistant.ask(question, history=list(history))

    def stream(self, question: str, history: list[Answer]) -> Iterator[Answer]:
        """Partial answers whose text grows; the last is the final answer with citations."""
        produce = getattr(self.assistant, "stream", None)
        if produce is None:
            final = self.ask(question, history)
            words = re.findall(r"\S+\s*", final.answer)
            partials = [final.replace(answer="".join(words[:i]).rstrip(), citations=(), related=())
                        for i in range(1, len(words))] + [final]
            yield from self._paced(partials)
            return
        with self._lock:
            stream = iter(produce(question, history=list(history)))
            drawn: list[Answer] = []
            t0 = time.monotonic()
            for partial in stream:
                drawn.append(partial)
                if time.monotonic() - t0 > self.LIVE_AFTER_S:
                    yield from drawn
                    yield from stream
                    return
        yield from self._paced(drawn)

    def _paced(self, partials: list[Answer]) -> Iterator[Answer]:
        shown = -self.STEP_CHARS
        for partial in partials[:-1]:
            if len(partial.answer) - shown >= self.STEP_CHARS:
                shown = len(partial.answer)
                yield partial
                if self.stream_delay > 0:
                    time.sleep(self.stream_delay)
        if partials:
            yield partials[-1]


# --- the app ---------------------------------------------------------------------------

_PANEL_JS = """
// Scroll only the panel's document box, never the page (the chat stays where it is).
function reveal(el) {
  const box = el.closest('.documents');
  if (!box) return;
  const offset = el.getBoundingClientRect().top - box.getBoundingClientRect().top;
  box.scrollTop += offset - box.clientHeight / 4;
}
function focusTarget(target, moveFocus) {
  const anchor = element.querySelector('#' + CSS.escape(target));
  if (!anchor) return false;
  element.querySelectorAll('mark.focused').forEach(m => m.classList.remove('focused'));
  const cls = target.replace(/^src-/, '');
  const marks = element.querySelectorAll('mark.' + CSS.escape(cls));
  marks.forEach(m => m.classList.add('focused'));
  const first = marks[0] || anchor;
  reveal(first);
  if (moveFocus && first.focus) first.focus({preventScroll: true});
  return true;
}
element.addEventListener('click', (event) => {
  if (event.target.closest('.back-to-answer')) {
    event.preventDefault();
    if (window.assistantBackToAnswer) window.assistantBackToAnswer();
    return;
  }
  const link = event.target.closest('[data-target]');
  if (!link) return;
  event.preventDefault();
  focusTarget(link.dataset.target, true);
});
element.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && window.assistantBackToAnswer) {
    event.preventDefault();
    window.assistantBackToAnswer();
  }
});
window.assistantFocusCitation = (n, answer, moveFocus) => {
  // The chat's select event re-renders this panel when an earlier answer was clicked:
  // remember the citation and focus it once that answer's sources are shown.
  window.assistantPendingCitation = {n: String(n), answer: String(answer), moveFocus: !!moveFocus};
  setTimeout(() => { window.assistantPendingCitation = null; }, 3000);
  const panel = element.querySelector('.source-panel');
  if (panel && panel.dataset.answer === String(answer)) focusTarget('src-cite-' + n, moveFocus);
};
// One polite announcement per answer, when it is complete (never per streamed word).
let announcer = document.getElementById('answer-announcer');
if (!announcer) {
  announcer = document.createElement('div');
  announcer.id = 'answer-announcer';
  announcer.className = 'sr-only';
  announcer.setAttribute('role', 'status');
  announcer.setAttribute('aria-live', 'polite');
  announcer.setAttribute('aria-atomic', 'true');
  document.body.appendChild(announcer);
}
let previous = 'none';
watch('value', () => {
  element.querySelectorAll('ol.citations').forEach(o => { o.scrollTop = 0; });
  const panel = element.querySelector('.source-panel');
  const state = panel ? panel.dataset.answer : 'none';
  if (previous === 'pending' && /^[0-9]+$/.test(state)) {
    const said = panel.querySelector('.announce');
    announcer.textContent = said ? said.textContent : '';
  }
  previous = state;
  const pending = window.assistantPendingCitation;
  if (pending && panel && panel.dataset.answer === pending.answer && focusTarget('src-cite-' + pending.n, pending.moveFocus)) {
    window.assistantPendingCitation = null;
    return;
  }
  const first = element.querySelector('mark');
  if (first) reveal(first);
});
"""

# The large-text (projector) switch: remembered per browser in localStorage.
_LARGE_TEXT_JS = """
const KEY = 'assistant-large-text';
const button = element.querySelector('#large-text-toggle');
function apply(on) {
  document.documentElement.classList.toggle('large-text', on);
  if (button) button.setAttribute('aria-pressed', on ? 'true' : 'false');
}
let stored = null;
try { stored = localStorage.getItem(KEY); } catch (e) {}
apply(stored === '1');
if (button) button.addEventListener('click', () => {
  const on = !document.documentElement.classList.contains('large-text');
  try { localStorage.setItem(KEY, on ? '1' : '0'); } catch (e) {}
  apply(on);
});
"""

# Page-wide behaviour of the chat: [n] markers (popover on hover/focus, inline quote on a
# phone, focus into the source panel on a desktop), plain-text copy, and a question typed
# while an answer is being written (asked as soon as that answer is done).
_PAGE_JS = """
() => {
  const narrow = () => window.matchMedia('(max-width: 820px)').matches;
  const refOf = (el) => el && el.closest ? el.closest('#chat a.cite-ref') : null;
  const parse = (ref) => (ref.getAttribute('href') || '').match(/answer-(-?\\d+)-cite-(\\d+)/);
  const bubbleOf = (el) => el.closest('[data-testid="bot"], [data-testid="user"]') || el.closest('.message');
  const quoteOf = (ref) => {
    const m = parse(ref), bubble = bubbleOf(ref);
    return m && bubble ? bubble.querySelector('.cite-quote.cq-' + m[2]) : null;
  };
  let lastRef = null, lastHref = null;

  const tip = document.createElement('div');
  tip.id = 'cite-tip';
  tip.setAttribute('role', 'tooltip');
  tip.hidden = true;
  document.body.appendChild(tip);
  const hideTip = () => { tip.hidden = true; };
  const showTip = (ref) => {
    if (narrow()) return;
    const quote = quoteOf(ref);
    if (!quote) return;
    tip.textContent = quote.textContent;
    tip.hidden = false;
    ref.setAttribute('aria-describedby', 'cite-tip');
    const r = ref.getBoundingClientRect(), t = tip.getBoundingClientRect();
    const left = Math.max(8, Math.min(r.left, window.innerWidth - t.width - 8));
    let top = r.bottom + 6;
    if (top + t.height > window.innerHeight - 8) top = Math.max(8, r.top - t.height - 6);
    tip.style.left = left + 'px';
    tip.style.top = top + 'px';
  };
  document.addEventListener('mouseover', (e) => { const ref = refOf(e.target); if (ref) showTip(ref); });
  document.addEventListener('mouseout', (e) => { if (refOf(e.target)) hideTip(); });
  document.addEventListener('focusin', (e) => { const ref = refOf(e.target); if (ref) showTip(ref); else hideTip(); });
  document.addEventListener('focusout', (e) => { if (refOf(e.target)) hideTip(); });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') hideTip(); });

  document.addEventListener('click', (event) => {
    const ref = refOf(event.target);
    if (!ref) return;
    event.preventDefault();
    const m = parse(ref);
    if (!m) return;
    lastRef = ref;
    lastHref = ref.getAttribute('href');
    hideTip();
    if (narrow()) {
      const quote = quoteOf(ref);
      if (!quote) return;
      const open = !quote.classList.contains('open');
      quote.classList.toggle('open', open);
      ref.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (open) quote.scrollIntoView({block: 'nearest'});
      return;
    }
    if (window.assistantFocusCitation) window.assistantFocusCitation(m[2], m[1], true);
  }, true);
  window.assistantBackToAnswer = () => {
    let ref = lastRef;
    if ((!ref || !ref.isConnected) && lastHref) ref = document.querySelector('#chat a.cite-ref[href="' + lastHref + '"]');
    if (ref) ref.focus();
    else { const box = document.querySelector('#question textarea'); if (box) box.focus(); }
  };

  // Copy gives plain text: the answer with its [n], then the numbered quotations.
  const plainText = (bubble) => {
    const clone = bubble.cloneNode(true);
    clone.querySelectorAll('.cite-quotes, .understood-as, button, svg').forEach(el => el.remove());
    clone.querySelectorAll('br').forEach(br => br.replaceWith('\\n'));
    let text = clone.textContent.replace(/[ \\t]+/g, ' ').replace(/ *\\n */g, '\\n').trim();
    const quotes = [...bubble.querySelectorAll('.cite-quote')].map(q => q.textContent.replace(/\\s+/g, ' ').trim());
    if (quotes.length) text += '\\n\\n' + quotes.join('\\n');
    return text;
  };
  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('#chat button');
    if (!button) return;
    const label = (button.getAttribute('aria-label') || button.getAttribute('title') || '').toLowerCase();
    if (!label.startsWith('copy')) return;
    // Gradio puts a message's buttons in a panel of their own: left for answers, right
    // for questions; the n-th panel on a side belongs to the n-th message of that role.
    const MESSAGE = '[data-testid="bot"], [data-testid="user"]';
    let bubble = null;
    const panel = button.closest('.message-buttons');
    if (panel) {
      const kind = panel.classList.contains('message-buttons-left') ? 'bot' : 'user';
      const side = kind === 'bot' ? '.message-buttons-left' : '.message-buttons-right';
      const panels = [...document.querySelectorAll('#chat ' + side)];
      bubble = document.querySelectorAll('#chat [data-testid="' + kind + '"]')[panels.indexOf(panel)] || null;
    }
    let row = button;
    while (!bubble && row && row.id !== 'chat') {
      row = row.parentElement;
      bubble = row && row.querySelector(MESSAGE);
    }
    if (!bubble) return;
    event.preventDefault();
    event.stopPropagation();
    const text = plainText(bubble);
    window.assistantLastCopy = text;
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
    button.classList.add('copied');
    setTimeout(() => button.classList.remove('copied'), 2000);
  }, true);

  // A question sent while an answer is still being written waits for it, then is asked.
  let queued = false;
  const note = () => document.getElementById('queued-note');
  const askButton = () => document.querySelector('button#ask, #ask button');
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.shiftKey || e.isComposing) return;
    const box = e.target.closest && e.target.closest('#question textarea');
    const ask = askButton();
    if (!box || !ask || !ask.disabled || !box.value.trim()) return;
    queued = true;
    const n = note();
    if (n) n.textContent = 'Your question will be asked as soon as this answer is done.';
  }, true);
  const container = document.querySelector('.gradio-container') || document.body;
  new MutationObserver(() => {
    const ask = askButton();
    if (!queued || !ask || ask.disabled) return;
    queued = false;
    const n = note();
    if (n) n.textContent = '';
    ask.click();
  }).observe(container, {attributes: true, subtree: true, childList: true, attributeFilter: ['disabled']});
}
"""


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts only (no font files fetched).

    The primary colour is dark enough for white text at 4.5:1 (WCAG AA).
    """
    return gr.themes.Default(
        primary_hue="blue",
        font=["DejaVu Sans", "Liberation Sans", "Arial", "sans-serif"],
        font_mono=["DejaVu Sans Mono", "Liberation Mono", "monospace"],
        text_size=gr.themes.sizes.text_lg,
    ).set(
        button_primary_background_fill="#1d4ed8",
        button_primary_background_fill_hover="#1e40af",
        button_primary_text_color="#ffffff",
        button_primary_background_fill_dark="#1d4ed8",
        button_primary_background_fill_hover_dark="#1e40af",
    )


def _storage_secret(folder: Path) -> str:
    """A per-installation key for the conversation kept in the browser (survives restarts)."""
    import secrets

    path = folder / "chat-page.secret"
    try:
        text = path.read_text(encoding="utf-8").strip()
        if len(text) >= 32:
            return text
    except OSError:
        pass
    key = secrets.token_hex(32)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(key + "\n", encoding="utf-8")
        path.chmod(0o600)
    except OSError:
        pass  # a read-only folder: the conversation is kept until the server restarts
    return key


def build_app(
    assistant: Any,
    *,
    feedback_path: str | Path | None = None,
    documents: Mapping[str, Any] | None = None,
    stream_delay: float = STREAM_DELAY_S,
    title: str | None = None,
    examples: Sequence[str] | None = None,
    warm_up: bool = False,
) -> gr.Blocks:
    """The chat page for ``assistant`` (anything with ``ask(question, history)``).

    ``warm_up`` answers one example in the background while the server starts, so the
    model and the BM25 index are loaded before the first student asks.
    """
    docs = documents if documents is not None else _library_of(assistant)
    if feedback_path is None:
        base = _index_dir(assistant) or Path.cwd()
        feedback_path = base / FEEDBACK_FILE
    feedback = FeedbackLog(Path(feedback_path))
    secret = _storage_secret(Path(feedback_path).parent)
    answerer = _Answerer(assistant, stream_delay)
    if warm_up:
        threading.Thread(target=_warm_up, args=(answerer,), name="chat-page-warm-up", daemon=True).start()
    wording = _Wording.of(assistant, docs, title, examples)

    # delete_cache: exported conversations are copied into Gradio's cache; drop them after a day
    with gr.Blocks(title=wording.title, analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        page = _layout(wording, docs, secret)
        _connect(app, page, _Handlers(page, answerer, docs, feedback))

    app.queue(default_concurrency_limit=8, max_size=256)
    return app


def _warm_up(answerer: _Answerer) -> None:
    try:
        answerer.ask(EXAMPLES[0], [])
    except UserError as exc:  # an index problem: the first real question reports it to the class
        _log.warning("chat page warm-up: %s", exc)
    except Exception:  # noqa: BLE001  (a bug must not stop the server starting; it is logged)
        _log.exception("chat page warm-up failed")


@dataclass(frozen=True)
class _Wording:
    """What the page calls its source, its title and its example questions."""

    kind: str
    subject: str
    title: str
    examples: Sequence[str]

    @classmethod
    def of(cls, assistant: Any, docs: Mapping[str, Any], title: str | None,
           examples: Sequence[str] | None) -> _Wording:
        single = len(docs) == 1
        kind = getattr(getattr(assistant, "chain", None), "subject", None) or ("telegram" if single else "documents")
        title = title or ("Telegram assistant" if kind == "telegram" else "Document assistant")
        if examples is None:
            examples = EXAMPLES if kind == "telegram" else ()  # the examples are about telegram no. 352
        return cls(kind, f"the {kind}", title, examples)


@dataclass
class _Page:
    """The page's components, and the lists of them the events read and write."""

    answers_state: Any
    stored: Any
    chatbot: Any
    question_box: Any
    ask_button: Any
    example_buttons: list[Any]
    new_button: Any
    export_button: Any
    sources: Any
    retrieval: Any
    api_question: Any
    api_result: Any
    api_trigger: Any

    @property
    def busy(self) -> list[Any]:
        """The buttons that ask: disabled while an answer is coming."""
        return [self.ask_button, *self.example_buttons]

    @property
    def answer_outputs(self) -> list[Any]:
        return [self.question_box, self.chatbot, self.answers_state, self.sources, self.retrieval,
                self.export_button, self.stored, *self.busy]

    @property
    def conversation(self) -> list[Any]:
        """What shows a conversation: restored from the browser, or started anew."""
        return [self.answers_state, self.chatbot, self.sources, self.retrieval, self.export_button]

    @property
    def panels(self) -> list[Any]:
        return [self.sources, self.retrieval]


def _layout(wording: _Wording, docs: Mapping[str, Any], secret: str) -> _Page:
    answers_state = gr.State([])
    stored = gr.BrowserState([], storage_key=f"assistant-conversation-{wording.kind}", secret=secret)
    _header(wording)
    with gr.Row(equal_height=False, elem_id="main-row"):
        with gr.Column(scale=5, min_width=340, elem_id="chat-column"):
            chat = _chat_column(wording)
        with gr.Column(scale=6, min_width=340, elem_id="source-column"):
            sources, retrieval = _source_column(docs)

    # The /ask API: same JSON as `assistant ask --json`; the session's history is kept
    # server-side per client, like a browser tab's.
    api_question = gr.Textbox(visible=False)
    api_result = gr.JSON(visible=False)
    api_trigger = gr.Button(visible=False)
    return _Page(answers_state, stored, *chat, sources, retrieval, api_question, api_result, api_trigger)


def _header(wording: _Wording) -> None:
    with gr.Row(elem_id="header"):
        gr.Markdown(
            f"# {html.escape(wording.title)}\n"
            f"Answers quote {wording.subject} word for word; select or hover a [n] to read its passage.",
            elem_id="page-title",
        )
        gr.HTML(
            '<button type="button" id="large-text-toggle" aria-pressed="false">Large text</button>',
            elem_id="large-text", js_on_load=_LARGE_TEXT_JS, container=False,
        )


def _chat_column(wording: _Wording) -> tuple[Any, Any, Any, list[Any], Any, Any]:
    """(chatbot, question box, Ask, example buttons, New conversation, Export)."""
    examples = wording.examples
    chatbot = gr.Chatbot(
        elem_id="chat",
        label="Conversation",
        show_label=False,
        height="calc(100vh - 345px)",
        min_height=220,
        sanitize_html=True,
        feedback_options=("Like", "Dislike"),
        buttons=["copy"],
        placeholder=f"Ask a question about {wording.subject}" + (", or pick an example below." if examples else "."),
        group_consecutive_messages=False,
    )
    with gr.Row(elem_id="ask-row"):
        question_box = gr.Textbox(
            elem_id="question",
            label="Question",
            show_label=False,
            placeholder="Type a question…",
            info=None,
            lines=1,
            max_lines=4,
            max_length=None,
            scale=5,
            min_width=160,
            autofocus=True,
        )
        ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="ask")
    gr.HTML('<div id="queued-note" role="status" aria-live="polite"></div>', container=False,
            elem_id="queued")
    with gr.Row(elem_id="examples", visible=bool(examples)):
        example_buttons = [gr.Button(q, size="sm") for q in examples]
    with gr.Row(elem_id="conversation-buttons"):
        new_button = gr.Button("New conversation", elem_id="new-conversation", size="sm")
        export_button = gr.DownloadButton(
            "Export (Markdown)", value=None, interactive=False,
            elem_id="export", size="sm",
        )
    return chatbot, question_box, ask_button, example_buttons, new_button, export_button


def _source_column(docs: Mapping[str, Any]) -> tuple[Any, Any]:
    """(source panel, retrieval details)."""
    sources = gr.HTML(
        source_panel(None, docs),
        elem_id="sources",
        js_on_load=_PANEL_JS,
        container=True,
        padding=True,
    )
    with gr.Accordion("Retrieval details", open=False, elem_id="retrieval"):
        retrieval = gr.HTML(retrieval_details(None), elem_id="retrieval-table", js_on_load=None)
    return sources, retrieval


class _Handlers:
    """What the page's events do; each returns values for one of ``_Page``'s output lists."""

    def __init__(self, page: _Page, answerer: _Answerer, docs: Mapping[str, Any], feedback: FeedbackLog):
        self.page = page
        self.answerer = answerer
        self.docs = docs
        self.feedback = feedback

    def idle_buttons(self):
        return [gr.Button(value="Ask", interactive=True)] + [gr.Button(interactive=True) for _ in self.page.example_buttons]

    def respond(self, question: str, answers: list[Answer]):
        p, docs = self.page, self.docs
        try:
            question = check_question(question)
        except UserError as exc:
            gr.Warning(str(exc))
            yield {p.question_box: gr.skip()}  # keep the text, so it can be corrected
            return
        history = list(answers or [])
        shown = chat_messages(history)
        pending = shown + [{"role": "user", "content": escape_markdown(question)}]
        yield {
            p.question_box: "",
            p.chatbot: pending + [{"role": "assistant", "content": "…"}],
            p.sources: answering_panel(question, docs),
            p.retrieval: '<div class="retrieval-details"><p class="summary">Answering…</p></div>',
            p.ask_button: gr.Button(value="Answering…", interactive=False),
            **{b: gr.Button(interactive=False) for b in p.example_buttons},
        }
        final = None
        try:
            for partial in self.answerer.stream(question, history):
                final = partial
                bubble = {"role": "assistant", "content": escape_markdown(partial.answer)}
                yield {p.chatbot: pending + [bubble]}
        except UserError as exc:  # e.g. the index changed under the page: say so, keep the chat
            gr.Warning(str(exc))
            last = history[-1] if history else None
            yield {p.question_box: question, p.chatbot: shown,
                   p.sources: source_panel(last, docs, len(history) - 1), p.retrieval: retrieval_details(last)}
            return
        assert final is not None, "stream() yields at least the final Answer"
        answers = history + [final]
        said = ("Not in the source. " if final.abstained else "Answer: ") + final.answer
        panel = source_panel(final, docs, len(answers) - 1, announce=said)
        yield {
            p.chatbot: chat_messages(answers),
            p.answers_state: answers,
            p.sources: panel,
            p.retrieval: retrieval_details(final),
            p.export_button: gr.DownloadButton(value=write_export(answers), interactive=True),
            p.stored: [answer_to_json(a) for a in answers[-MAX_STORED_ANSWERS:]],
        }

    def ask_api(self, question: str, answers: list[Answer]):
        try:
            question = check_question(question)
            history = list(answers or [])
            answer = self.answerer.ask(question, history)
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        return answer.to_dict(), history + [answer]

    def new_conversation(self):
        """Values for ``page.conversation`` and the question box."""
        return (
            [],
            [],
            source_panel(None, self.docs),
            retrieval_details(None),
            gr.DownloadButton(value=None, interactive=False),
            "",
        )

    @staticmethod
    def forget_stored():
        return []

    def restore(self, saved: Any):
        """Values for ``page.conversation``: the conversation the browser kept, if any."""
        answers = restore_answers(saved)
        if not answers:
            return tuple(gr.skip() for _ in self.page.conversation)
        return (
            answers,
            chat_messages(answers),
            source_panel(answers[-1], self.docs, len(answers) - 1),
            retrieval_details(answers[-1]),
            gr.DownloadButton(value=write_export(answers), interactive=True),
        )

    def show_answer(self, answers: list[Answer], event: gr.SelectData):
        """Values for ``page.panels``: the selected answer's sources."""
        index = event.index if isinstance(event.index, int) else event.index[0]
        i = index // 2
        if not answers or not 0 <= i < len(answers):
            return tuple(gr.skip() for _ in self.page.panels)
        return source_panel(answers[i], self.docs, i), retrieval_details(answers[i])

    def record_vote(self, answers: list[Answer], event: gr.LikeData, request: gr.Request):
        index = event.index if isinstance(event.index, int) else event.index[0]
        if not isinstance(index, int):
            return
        i = index // 2
        if not answers or not 0 <= i < len(answers):
            return
        # the page sends True (thumbs up), False (thumbs down) or "" when a vote is taken back
        vote = "up" if event.liked is True else "down" if event.liked is False else "undo"
        session = getattr(request, "session_hash", None) or "no-session"
        if self.feedback.append(answers[i], vote, session=session) is None:
            gr.Warning("Vote limit reached for this session: nothing more is recorded.")
            return
        gr.Info("Your vote was taken back." if vote == "undo" else "Thanks: your vote was recorded.")


def _connect(app: gr.Blocks, p: _Page, h: _Handlers) -> None:
    """The page's events, in a fixed order (Gradio numbers them)."""
    gr.on(
        [p.question_box.submit, p.ask_button.click], h.respond, [p.question_box, p.answers_state], p.answer_outputs,
        api_visibility="private", trigger_mode="once",
    ).then(h.idle_buttons, None, p.busy, api_visibility="private")
    for button in p.example_buttons:
        button.click(h.respond, [button, p.answers_state], p.answer_outputs, api_visibility="private").then(
            h.idle_buttons, None, p.busy, api_visibility="private")
    started = [*p.conversation, p.question_box]
    p.new_button.click(h.new_conversation, None, started, api_name="new_conversation").then(
        h.forget_stored, None, p.stored, api_visibility="private")
    p.chatbot.clear(h.new_conversation, None, started, api_visibility="private").then(
        h.forget_stored, None, p.stored, api_visibility="private")
    p.chatbot.select(h.show_answer, [p.answers_state], p.panels, api_visibility="private")
    p.chatbot.like(h.record_vote, [p.answers_state], None, api_visibility="private")
    p.api_trigger.click(h.ask_api, [p.api_question, p.answers_state], [p.api_result, p.answers_state], api_name="ask")
    app.load(h.restore, [p.stored], p.conversation, api_visibility="private", show_progress="hidden")


# --- serving ---------------------------------------------------------------------------


def read_auth(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]] | None:
    """Credentials from ASSISTANT_AUTH ("user:password") or ASSISTANT_AUTH_FILE (one a line)."""
    environ = os.environ if environ is None else environ
    lines: list[tuple[str, str]] = []
    source = None
    if environ.get("ASSISTANT_AUTH"):
        source = "ASSISTANT_AUTH"
        lines = [(source, environ["ASSISTANT_AUTH"])]
    elif environ.get("ASSISTANT_AUTH_FILE"):
        path = Path(environ["ASSISTANT_AUTH_FILE"])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot read ASSISTANT_AUTH_FILE {path}: {exc.strerror}") from None
        lines = [(f"{path}:{i}", s.strip()) for i, s in enumerate(text.splitlines(), 1) if s.strip() and not s.startswith("#")]
        if not lines:
            raise UserError(f"ASSISTANT_AUTH_FILE has no user:password line: {path}")
    if source is None:
        return None
    pairs = []
    for where, line in lines:
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise UserError(f"{where}: expected user:password")
        pairs.append((user, password))
    return pairs


def check_exposure(host: str, auth: list[tuple[str, str]] | None, insecure: bool) -> None:
    """Refuse to serve beyond this machine without a password, unless told ``insecure``."""
    if host in LOCAL_HOSTS:
        return
    if not auth and not insecure:
        raise UserError(
            f"--host {host} would expose the page to the network: set ASSISTANT_AUTH=user:password "
            "(or ASSISTANT_AUTH_FILE), or pass --insecure"
        )
    if not auth:
        log.warning(f"warning: serving on {host} without a password (--insecure): anyone who can reach it can use it")


def launch(
    app: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: list[tuple[str, str]] | None = None,
    insecure: bool = False,
    block: bool = True,
    quiet: bool = False,
):
    """Serve ``app``: local by default; another address needs auth or ``insecure``."""
    check_exposure(host, auth, insecure)
    return _launch(app, host, port, auth, block, quiet)


def _launch(app: gr.Blocks, host: str, port: int, auth, block: bool, quiet: bool):
    try:
        return _gradio_launch(app, host, port, auth, block, quiet)
    except OSError as exc:
        if "port" in str(exc).lower():
            raise UserError(f"cannot serve on {host}:{port}: the port is in use (try --port)") from None
        raise


def _gradio_launch(app: gr.Blocks, host: str, port: int, auth, block: bool, quiet: bool):
    # Gradio's own start-up lines end with a hint to "set share=True" (never wanted here):
    # it runs quiet, and the page prints its address itself.
    result = app.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth,
        inbrowser=False,
        prevent_thread_lock=True,
        quiet=True,
        show_error=True,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        enable_monitoring=False,
        theme=theme(),
        css_paths=[CSS_PATH],
        js=_PAGE_JS,
        footer_links=["api"],
    )
    if not quiet:
        sys.stdout.write(f"* Running on local URL:  {app.protocol}://{app.server_name}:{app.server_port}\n")
        sys.stdout.flush()
    if block:
        app.block_thread()
    return result


def serve(
    index: str | Path | None = None,
    collection: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    insecure: bool = False,
    feedback_path: str | Path | None = None,
    llm: str | None = None,
    block: bool = True,
):
    """``assistant serve``: open the index and serve the chat page."""
    auth = read_auth()
    check_exposure(host, auth, insecure)  # before the (slow) index opens: report a mistake at once
    from assistant import Assistant  # LangChain, Chroma (~0.5 s): after the exposure check, so a mistake shows at once

    kwargs: dict[str, Any] = {}
    if index is not None:
        kwargs["index"] = index
    if collection is not None:
        kwargs["collection"] = collection
    if llm is not None:
        kwargs["llm"] = llm
    # Opened here, after Gradio's import, not beside it in a thread: both mostly hold the GIL,
    # and measured (5 interleaved starts, 2 loaded cores) the thread made the first answer later.
    assistant = Assistant.open(**kwargs)
    app = build_app(assistant, feedback_path=feedback_path, warm_up=True)
    return _launch(app, host, port, auth, block, quiet=False)  # exposure checked above
