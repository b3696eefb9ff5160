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
import json
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

from assistant.answer import Answer, Citation, display_source
from assistant.config import MAX_QUESTION_CHARS, check_question
from assistant.errors import UserError

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402  (after the analytics switch above)

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

_EXPORT_DIR = Path(tempfile.gettempdir()) / "assistant-chat-exports"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~])")  # "<", ">", "&": html.escape
_ESCAPED_MARKER = re.compile(r"\\\[(\d{1,3})\\\]")  # "[n]" after escape_markdown


# --- rendering (pure functions: Answer -> escaped HTML / Markdown) ---------------------


def escape_markdown(text: str) -> str:
    """Text shown as itself in the chat: HTML-escaped, Markdown punctuation disarmed."""
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=True)


def chat_message(answer: Answer, index: int = -1) -> str:
    """The assistant's chat bubble for ``answer``: escaped text, clickable [n] markers."""
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
    if answer.resolved_question and answer.resolved_question.strip() != answer.question.strip():
        parts.append(f'<br><span class="understood-as">(understood as: {escape_markdown(answer.resolved_question)})</span>')
    if answer.notice:
        parts.append(f'<br><span class="notice">{escape_markdown(answer.notice)}</span>')
    return " ".join(parts[:2]) + "".join(parts[2:])


def chat_messages(answers: Sequence[Answer]) -> list[dict]:
    """The chatbot's messages for a conversation: question, answer, question, answer…"""
    messages: list[dict] = []
    for index, answer in enumerate(answers):
        messages.append({"role": "user", "content": escape_markdown(answer.question)})
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
    for a, b in zip(cuts, cuts[1:]):
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
        out.append(f'{anchors}<mark class="{classes}" data-cites="{numbers}">{piece}</mark>')
    return "".join(out)


def _place(c: Citation) -> str:
    return f"{display_source(c.source)} · chars {c.start}–{c.end}"


def _citation_items(citations: Sequence[Citation], kind: str) -> str:
    items = []
    for c in citations:
        title = html.escape(c.title or c.doc_id)
        date = f" ({html.escape(c.date)})" if c.date else ""
        items.append(
            f'<li><a class="cite-link" href="#src-{kind}-{c.n}" data-target="src-{kind}-{c.n}">'
            f"[{c.n}] {title}{date}</a>"
            f"<blockquote>“{html.escape(c.quote)}”</blockquote>"
            f'<div class="place">{html.escape(_place(c))}</div></li>'
        )
    css = "citations related" if kind == "related" else "citations"
    return f'<ol class="{css}">{"".join(items)}</ol>'


def _document_article(doc: Any, spans: Sequence[tuple[int, int, int, str]]) -> str:
    title = html.escape(getattr(doc, "title", "") or doc.doc_id)
    meta = [display_source(doc.source)]
    if getattr(doc, "date", None):
        meta.append(doc.date)
    return (
        f'<article class="document" data-doc="{html.escape(doc.doc_id)}"><h3>{title}</h3>'
        f'<div class="meta">{html.escape(" · ".join(meta))}</div>'
        f'<div class="document-text">{highlight(doc.text, spans)}</div></article>'
    )


def source_panel(answer: Answer | None, documents: Mapping[str, Any], answer_index: int = -1) -> str:
    """The source panel: status, citation list, and each cited document highlighted."""
    if answer is None:
        intro = '<div class="status idle">Ask a question: the source appears here with the cited sentences highlighted.</div>'
        only = next(iter(documents), None) if len(documents) == 1 else None
        doc = documents.get(only) if only is not None else None
        body = _document_article(doc, []) if doc is not None else ""
        return f'<div class="source-panel" data-answer="none">{intro}<div class="documents">{body}</div></div>'

    if answer.abstained:
        cites, kind = answer.related, "related"
        status = (
            '<div class="status abstained">Not answered by the source. '
            + ("The closest passages are highlighted below." if cites else "No related passage was found.")
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
    return (
        f'<div class="source-panel" data-answer="{answer_index}">{status}'
        f"{_citation_items(cites, kind) if cites else ''}"
        f'<div class="documents">{"".join(articles)}</div></div>'
    )


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
            f'<td class="num">{p.start}–{p.end}</td><td>{html.escape(text)}</td></tr>'
        )
    table = (
        "<table><thead><tr><th>#</th><th>score</th><th>dense rank</th><th>BM25 rank</th><th>kind</th>"
        f"<th>chars</th><th>passage</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return f'<div class="retrieval-details">{summary}{table}</div>'


def conversation_markdown(answers: Sequence[Answer]) -> str:
    """The conversation as Markdown, each answer followed by its numbered citations."""
    lines = ["# Conversation with the telegram assistant", ""]
    lines.append(f"Exported {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.")
    for i, a in enumerate(answers, 1):
        lines += ["", f"## {i}. {a.question}", ""]
        if a.resolved_question and a.resolved_question.strip() != a.question.strip():
            lines += [f"_Understood as: {a.resolved_question}_", ""]
        lines += [a.answer, ""]
        cites = a.citations if not a.abstained else a.related
        if cites:
            lines.append("Closest passages:" if a.abstained else "Citations:")
            lines.append("")
            for c in cites:
                where = f"{display_source(c.source)}, chars {c.start}–{c.end}"
                title = c.title or c.doc_id
                lines.append(f"[{c.n}] {title}: “{c.quote}” ({where})")
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
    """Thumbs up/down appended to a local JSONL file, one object per vote."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, answer: Answer, vote: str) -> dict:
        record = {
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "vote": vote,
            "question": answer.question,
            "resolved_question": answer.resolved_question,
            "answer": answer.answer,
            "abstained": answer.abstained,
            "citations": [{"doc_id": c.doc_id, "start": c.start, "end": c.end} for c in answer.citations],
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
        return record


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
        from assistant.citations import source_text

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
function focusTarget(target) {
  const anchor = element.querySelector('#' + CSS.escape(target));
  if (!anchor) return false;
  element.querySelectorAll('mark.focused').forEach(m => m.classList.remove('focused'));
  const cls = target.replace(/^src-/, '');
  element.querySelectorAll('mark.' + CSS.escape(cls)).forEach(m => m.classList.add('focused'));
  reveal(element.querySelector('mark.' + CSS.escape(cls)) || anchor);
  return true;
}
element.addEventListener('click', (event) => {
  const link = event.target.closest('[data-target]');
  if (!link) return;
  event.preventDefault();
  focusTarget(link.dataset.target);
});
window.assistantFocusCitation = (n, answer) => {
  // The chat's select event re-renders this panel when an earlier answer was clicked:
  // remember the citation and focus it once that answer's sources are shown.
  window.assistantPendingCitation = {n: String(n), answer: String(answer)};
  setTimeout(() => { window.assistantPendingCitation = null; }, 3000);
  const panel = element.querySelector('.source-panel');
  if (panel && panel.dataset.answer === String(answer)) focusTarget('src-cite-' + n);
};
watch('value', () => {
  element.querySelectorAll('ol.citations').forEach(o => { o.scrollTop = 0; });
  const pending = window.assistantPendingCitation;
  const panel = element.querySelector('.source-panel');
  if (pending && panel && panel.dataset.answer === pending.answer && focusTarget('src-cite-' + pending.n)) return;
  const first = element.querySelector('mark');
  if (first) reveal(first);
});
"""

# A click on an inline [n] marker in the chat shows citation n in the source panel.
_PAGE_JS = """
() => {
  document.addEventListener('click', (event) => {
    const ref = event.target.closest && event.target.closest('#chat .cite-ref');
    if (!ref) return;
    event.preventDefault();
    const m = (ref.getAttribute('href') || '').match(/answer-(-?\\d+)-cite-(\\d+)/);
    if (m && window.assistantFocusCitation) window.assistantFocusCitation(m[2], m[1]);
  }, true);
}
"""


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts only (no font files fetched)."""
    return gr.themes.Default(
        primary_hue="blue",
        font=["DejaVu Sans", "Liberation Sans", "Arial", "sans-serif"],
        font_mono=["DejaVu Sans Mono", "Liberation Mono", "monospace"],
        text_size=gr.themes.sizes.text_lg,
    )


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
    answerer = _Answerer(assistant, stream_delay)
    if warm_up:
        def warm() -> None:
            try:
                answerer.ask(EXAMPLES[0], [])
            except Exception:  # noqa: BLE001  (a real question will report the problem)
                pass

        threading.Thread(target=warm, name="chat-page-warm-up", daemon=True).start()
    single = len(docs) == 1
    kind = getattr(getattr(assistant, "chain", None), "subject", None) or ("telegram" if single else "documents")
    subject = f"the {kind}"
    title = title or ("Telegram assistant" if kind == "telegram" else "Document assistant")
    if examples is None:
        examples = EXAMPLES if kind == "telegram" else ()  # the examples are about telegram no. 352

    def respond(question: str, answers: list[Answer]):
        try:
            question = check_question(question)
        except UserError as exc:
            gr.Warning(str(exc))
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history = list(answers or [])
        shown = chat_messages(history)
        pending = shown + [{"role": "user", "content": escape_markdown(question)}]
        yield "", pending + [{"role": "assistant", "content": "…"}], gr.skip(), gr.skip(), gr.skip(), gr.skip()
        final = None
        try:
            for partial in answerer.stream(question, history):
                final = partial
                bubble = {"role": "assistant", "content": escape_markdown(partial.answer)}
                yield gr.skip(), pending + [bubble], gr.skip(), gr.skip(), gr.skip(), gr.skip()
        except UserError as exc:  # e.g. the index changed under the page: say so, keep the chat
            gr.Warning(str(exc))
            yield question, shown, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        answers = history + [final]
        yield (
            "",
            chat_messages(answers),
            answers,
            source_panel(final, docs, len(answers) - 1),
            retrieval_details(final),
            gr.DownloadButton(value=write_export(answers), interactive=True),
        )

    def ask_api(question: str, answers: list[Answer]):
        try:
            question = check_question(question)
            history = list(answers or [])
            answer = answerer.ask(question, history)
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        return answer.to_dict(), history + [answer]

    def new_conversation():
        return (
            [],
            [],
            source_panel(None, docs),
            retrieval_details(None),
            gr.DownloadButton(value=None, interactive=False),
            "",
        )

    def show_answer(answers: list[Answer], event: gr.SelectData):
        index = event.index if isinstance(event.index, int) else event.index[0]
        i = index // 2
        if not answers or not 0 <= i < len(answers):
            return gr.skip(), gr.skip()
        return source_panel(answers[i], docs, i), retrieval_details(answers[i])

    def record_vote(answers: list[Answer], event: gr.LikeData):
        index = event.index if isinstance(event.index, int) else event.index[0]
        i = index // 2
        if not answers or not 0 <= i < len(answers):
            return
        feedback.append(answers[i], "up" if event.liked else "down")
        gr.Info("Thanks: your vote was recorded.")

    # delete_cache: exported conversations are copied into Gradio's cache; drop them after a day
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        answers_state = gr.State([])
        gr.Markdown(
            f"# {html.escape(title)}\n"
            f"Answers quote {subject} word for word; every [n] points to the highlighted passage on the right.",
            elem_id="page-title",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=420):
                chatbot = gr.Chatbot(
                    elem_id="chat",
                    label="Conversation",
                    show_label=False,
                    height=600,
                    sanitize_html=True,
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                    placeholder=f"Ask a question about {subject}" + (", or pick an example below." if examples else "."),
                    group_consecutive_messages=False,
                )
                with gr.Row():
                    question_box = gr.Textbox(
                        elem_id="question",
                        show_label=False,
                        placeholder=f"Ask about {subject}… (up to {MAX_QUESTION_CHARS:,} characters)",
                        lines=1,
                        max_lines=4,
                        scale=5,
                        autofocus=True,
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="ask")
                gr.Markdown("**Examples**", visible=bool(examples))
                with gr.Row(elem_id="examples", visible=bool(examples)):
                    example_buttons = [gr.Button(q, size="sm") for q in examples]
                with gr.Row():
                    new_button = gr.Button("New conversation", elem_id="new-conversation", size="sm")
                    export_button = gr.DownloadButton(
                        "Export conversation (Markdown)", value=None, interactive=False,
                        elem_id="export", size="sm",
                    )
            with gr.Column(scale=6, min_width=420):
                sources = gr.HTML(
                    source_panel(None, docs),
                    elem_id="sources",
                    js_on_load=_PANEL_JS,
                    container=True,
                    padding=True,
                )
                with gr.Accordion("Retrieval details", open=False, elem_id="retrieval"):
                    retrieval = gr.HTML(retrieval_details(None), elem_id="retrieval-table", js_on_load=None)

        # The /ask API: same JSON as `assistant ask --json`; the session's history is kept
        # server-side per client, like a browser tab's.
        api_question = gr.Textbox(visible=False)
        api_result = gr.JSON(visible=False)
        api_trigger = gr.Button(visible=False)

        outputs = [question_box, chatbot, answers_state, sources, retrieval, export_button]
        for trigger in (question_box.submit, ask_button.click):
            trigger(respond, [question_box, answers_state], outputs, api_visibility="private")
        for button in example_buttons:
            button.click(respond, [button, answers_state], outputs, api_visibility="private")
        new_button.click(
            new_conversation, None,
            [answers_state, chatbot, sources, retrieval, export_button, question_box],
            api_name="new_conversation",
        )
        chatbot.clear(
            new_conversation, None,
            [answers_state, chatbot, sources, retrieval, export_button, question_box],
            api_visibility="private",
        )
        chatbot.select(show_answer, [answers_state], [sources, retrieval], api_visibility="private")
        chatbot.like(record_vote, [answers_state], None, api_visibility="private")
        api_trigger.click(ask_api, [api_question, answers_state], [api_result, answers_state], api_name="ask")

    app.queue(default_concurrency_limit=8, max_size=256)
    return app


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
        print(f"warning: serving on {host} without a password (--insecure): anyone who can reach it can use it",
              file=sys.stderr)


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
    return app.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth,
        inbrowser=False,
        prevent_thread_lock=not block,
        quiet=quiet,
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
    from assistant import Assistant

    kwargs: dict[str, Any] = {}
    if index is not None:
        kwargs["index"] = index
    if collection is not None:
        kwargs["collection"] = collection
    if llm is not None:
        kwargs["llm"] = llm
    assistant = Assistant.open(**kwargs)
    app = build_app(assistant, feedback_path=feedback_path, warm_up=True)
    return _launch(app, host, port, auth, block, quiet=False)  # exposure checked above
