"""The LLM answer step: fluent sentences on top of the same checked citations.

Given the question, the retrieved passages (numbered [1]..[k] in the prompt) and the
extractive answer, the LLM writes an answer through ``prompts/answer_*.txt``. As it
streams, each finished sentence goes through ``grounding.GroundingChecker``; supported
sentences are emitted at once (so what streams is exactly what the final answer says),
unsupported ones are dropped. The citations are the checked evidence spans of the
passages — the document's own words with their offsets, never text the LLM produced.
When the extractive answer has a short answer (its ``lead``: "Oumansky", "Three readings"),
the LLM's sentences are held back until they say it too, and an LLM answer that never does
is not shown: fluency must not lose the answer.

The result is an ``Answer`` with ``mode="llm"``, or the extractive answer with
``mode="llm-fallback"`` and a one-line ``notice`` when the backend is unreachable, too slow,
errs, returns nothing usable, or no sentence is supported. The extractive answer's
abstention stands: the LLM is asked only when the extractive step found an answer (an
LLM only adds fluency; it does not decide that the source answers).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Generator, Iterator

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from assistant import prompts
from assistant.answer import Answer, Citation, Passage
from assistant.citations import verify
from assistant.grounding import (
    LEADING_MARKERS,
    MARKER,
    GroundingChecker,
    SentenceCheck,
    answer_sentences,
    covers,
    labelled,
    strip_markers,
)
from assistant.llm import llm_timeout
from assistant.sentences import split_sentences

log = logging.getLogger(__name__)
MAX_PASSAGES = 5  # the prompt's passages: more only dilutes a small model's attention
MAX_PASSAGE_CHARS = 900
MAX_SENTENCES = 4  # an answer is one to three sentences; a longer one is rambling
_ABSTAINS = re.compile(r"\b(?:does|do|did)\s+not\s+say\b|\bnot\s+(?:mentioned|stated)\b", re.IGNORECASE)


def format_passages(passages: list[Passage] | tuple[Passage, ...]) -> str:
    lines = []
    for n, p in enumerate(passages, 1):
        text = re.sub(r"\s+", " ", labelled(p.kind, p.text)).strip()
        if len(text) > MAX_PASSAGE_CHARS:
            text = text[:MAX_PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"[{n}] {text}")
    return "\n".join(lines)


def answer_messages(question: str, passages, subject: str = "telegram", multi_document: bool = False) -> list:
    system = prompts.render(
        "answer_system",
        subject_phrase=prompts.subject_phrase(subject, plural=multi_document),
        abstention=prompts.abstention(subject, plural=multi_document),
    )
    user = prompts.render("answer_user", passages=format_passages(passages), question=question)
    return [SystemMessage(system), HumanMessage(user)]


def prompt_passages(passages, extractive: Answer, limit: int = MAX_PASSAGES) -> list[Passage]:
    """The passages the LLM sees: the retrieved ones in rank order, and first of all those
    holding the extractive citations (so the LLM is shown what answers the question)."""
    passages = list(passages)

    def holds(p: Passage, c: Citation) -> bool:
        return p.doc_id == c.doc_id and p.start <= c.start and c.end <= p.end

    first = [p for p in passages if any(holds(p, c) for c in extractive.citations)]
    rest = [p for p in passages if p not in first]
    return (first + rest)[:limit]


def fallback(extractive: Answer, notice: str, timings: dict | None = None) -> Answer:
    return extractive.replace(
        mode="llm-fallback",
        notice=notice,
        timings_ms={**extractive.timings_ms, **(timings or {})},
    )


def stream_generative(
    llm: BaseChatModel,
    question: str,
    passages,
    extractive: Answer,
    history=None,
    *,
    subject: str = "telegram",
    multi_document: bool = False,
    checker: GroundingChecker | None = None,
    timeout: float | None = None,
) -> Iterator[str | Answer]:
    """Text deltas of the checked answer as the LLM writes it, then the final ``Answer``
    (a fallback yields no deltas: its text is the extractive answer's).

    ``history`` is accepted for symmetry with ``ask``; the question is expected already
    resolved (``rewrite_followup``), so the answer prompt does not repeat the conversation.
    """
    t0 = time.perf_counter()
    if extractive.abstained:
        # The LLM is not asked to overrule "the source does not say" (see module docstring).
        yield extractive.replace(mode="llm-fallback", notice="No passage answers this; the LLM was not asked.")
        return
    shown = prompt_passages(passages or extractive.passages, extractive)
    if not shown:
        yield fallback(extractive, "No passages to give the LLM; extractive answer shown.")
        return
    seconds = llm_timeout(timeout)
    checker = checker or GroundingChecker()
    builder = _AnswerBuilder(shown)
    gate = _LeadGate(extractive.lead)
    messages = answer_messages(question, shown, subject, multi_document)
    failure, raw = yield from _checked_deltas(llm, messages, shown, checker, builder, gate, t0, seconds)
    timings = {"llm": round((time.perf_counter() - t0) * 1000, 2)}
    yield _final_answer(extractive, builder, gate, failure, raw, timings)


def _checked_deltas(llm: BaseChatModel, messages, shown: list[Passage], checker: GroundingChecker,
                    builder: _AnswerBuilder, gate: _LeadGate, t0: float, seconds: float
                    ) -> Generator[str, None, tuple[str | None, str]]:
    """Text deltas of the checked sentences as the LLM writes them (``seconds`` from ``t0`` at
    most); returns what went wrong with the backend (``None``: nothing) and the LLM's raw text."""
    pending = ""
    raw = ""
    failure: str | None = None
    stopped_early = False
    try:
        stream = llm.stream(messages)
        try:
            for chunk in stream:
                piece = _chunk_text(chunk)
                raw += piece
                pending += piece
                done, pending = _finished_sentences(pending)
                for sentence in done:
                    yield from gate.pass_on(builder.add(checker.check(sentence, shown)), builder.text)
                if builder.count >= MAX_SENTENCES or builder.looping:
                    stopped_early = True
                    break
                if time.perf_counter() - t0 > seconds:
                    failure = f"The LLM took longer than {seconds:g} s"
                    break
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
        if failure is None and not stopped_early:
            for sentence in answer_sentences(pending):
                yield from gate.pass_on(builder.add(checker.check(sentence, shown)), builder.text)
    # Any backend failure (connection, HTTP status, the client library's or the model's own
    # errors: each backend raises its own types) becomes the extractive answer with a notice.
    except Exception as exc:
        failure = describe_failure(exc, llm)
        log.info("the LLM failed (%s); the extractive answer stands", failure, exc_info=log.isEnabledFor(logging.DEBUG))
    return failure, raw


def _final_answer(extractive: Answer, builder: _AnswerBuilder, gate: _LeadGate, failure: str | None, raw: str,
                  timings: dict[str, float]) -> Answer:
    """The LLM's checked answer, or the extractive one with a notice saying why."""
    if builder.kept and not gate.open:
        notice = f"{failure}; extractive answer shown." if failure else (
            f"The LLM's answer left out what the passages say (“{extractive.lead}”); extractive answer shown.")
        return fallback(extractive, notice, timings)
    if builder.kept:
        notices = []
        if failure:
            notices.append(f"{failure}; the answer stops where it did.")
        dropped = builder.dropped
        if dropped:
            notices.append(
                f"{dropped} sentence{'s' if dropped > 1 else ''} of the LLM's answer "
                f"{'were' if dropped > 1 else 'was'} not supported by the cited passages and left out."
            )
        return Answer(
            question=extractive.question,
            answer=builder.text,
            abstained=False,
            citations=tuple(builder.citations),
            related=extractive.related,
            lead=extractive.lead,
            resolved_question=extractive.resolved_question,
            mode="llm",
            passages=extractive.passages,
            timings_ms={**extractive.timings_ms, **timings},
            notice=" ".join(notices) or None,
        )
    if failure:
        notice = f"{failure}; extractive answer shown."
    elif not raw.strip():
        notice = "The LLM returned an empty answer; extractive answer shown."
    elif builder.abstentions and not builder.dropped:
        notice = "The LLM found no answer in the passages; extractive answer shown."
    else:
        notice = "No sentence of the LLM's answer was supported by the passages it cited; extractive answer shown."
    return fallback(extractive, notice, timings)


def generate_answer(llm, question, passages, extractive: Answer, history=None, **kwargs) -> Answer:
    """``stream_generative`` run to the end: the final ``Answer``."""
    final = None
    for item in stream_generative(llm, question, passages, extractive, history, **kwargs):
        if isinstance(item, Answer):
            final = item
    assert final is not None
    return final


def describe_failure(exc: BaseException, llm=None) -> str:
    """One line saying what went wrong with the backend (no stack trace)."""
    name = type(exc).__name__
    where = _backend_address(llm)
    text = f"{name} {exc}".lower()
    if "timeout" in text or "timed out" in text:
        return f"The LLM{where} did not answer in time"
    if any(k in text for k in ("connect", "refused", "unreachable", "name or service", "no route")):
        return f"The LLM{where} is unreachable"
    message = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"The LLM{where} failed ({name}{': ' + message if message else ''})"


def _backend_address(llm) -> str:
    for attr in ("base_url", "openai_api_base"):
        value = getattr(llm, attr, None)
        if isinstance(value, str) and value:
            return f" at {value}"
    return ""


# --- follow-ups ------------------------------------------------------------------------

MAX_HISTORY_TURNS = 3


def format_history(history) -> str:
    lines = []
    for turn in list(history or [])[-MAX_HISTORY_TURNS:]:
        answer = strip_markers(re.sub(r"\n\nSources:.*", "", turn.answer, flags=re.DOTALL))
        answer = answer.replace("“", "").replace("”", "")
        if len(answer) > 300:
            answer = answer[:300].rsplit(" ", 1)[0] + " …"
        lines.append(f"Q: {turn.resolved_question or turn.question}\nA: {answer}")
    return "\n".join(lines)


def rewrite_messages(question: str, history, subject: str = "telegram", multi_document: bool = False) -> list:
    system = prompts.render("rewrite_system", subject_phrase=prompts.subject_phrase(subject, plural=multi_document))
    user = prompts.render("rewrite_user", history=format_history(history), question=question)
    return [SystemMessage(system), HumanMessage(user)]


def rewrite_followup(
    llm: BaseChatModel, question: str, history, *, subject: str = "telegram", multi_document: bool = False,
    timeout: float | None = None,
) -> str | None:
    """The follow-up as a standalone question, or ``None`` when the LLM gives nothing usable
    (unreachable, slow, an answer instead of a question): the caller then resolves it
    deterministically."""
    if not history:
        return question
    seconds = llm_timeout(timeout)
    t0 = time.perf_counter()
    text = ""
    try:
        stream = llm.stream(rewrite_messages(question, history, subject, multi_document))
        try:
            for chunk in stream:
                text += _chunk_text(chunk)
                if "\n" in text.strip() or len(text) > 400 or time.perf_counter() - t0 > seconds:
                    break
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
    # As for the answer: whatever the backend raises, the deterministic method resolves the follow-up.
    except Exception as exc:
        log.info("the LLM could not rewrite the follow-up (%s); resolving it without the LLM",
                 describe_failure(exc, llm), exc_info=log.isEnabledFor(logging.DEBUG))
        return None
    return clean_rewrite(text, question)


_REFERRING = re.compile(r"\b(?:he|him|his|she|her|hers|they|them|their)\b", re.IGNORECASE)


def clean_rewrite(text: str, question: str) -> str | None:
    """The rewritten question, or ``None`` when it is not one standalone question that
    resolves the follow-up's pronouns (then the deterministic method decides)."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    if ":" in line:  # "The follow-up question is: ...", "Standalone question: ..."
        head, _, tail = line.rpartition(":")
        if tail.strip().strip("\"'“”").endswith("?") and len(head.split()) <= 6:
            line = tail
    line = line.strip().strip("\"'“”").strip()
    if not line.endswith("?") or line.count("?") > 1 or not 3 <= len(line) <= max(300, 3 * len(question)):
        return None
    if _ABSTAINS.search(line) or any(ch in line for ch in "[]()"):
        return None
    if _REFERRING.search(line) and _REFERRING.search(question):
        return None  # the pronoun is still there: nothing was resolved
    if line.lower().rstrip("?").strip() == question.strip().lower().rstrip("?").strip():
        return None  # unchanged: the deterministic method may still resolve it
    return line


# --- building the answer ---------------------------------------------------------------


class _LeadGate:
    """Holds the streamed sentences back until they say what the extractive answer's short
    answer (its lead: "Three readings", "Oumansky") says: fluency must not lose the answer.
    Without a lead the gate is open from the start."""

    def __init__(self, lead: str | None):
        self.lead = lead
        self.open = not lead
        self.held: list[str] = []

    def pass_on(self, delta: str, text: str) -> Iterator[str]:
        if delta:
            self.held.append(delta)
        if not self.open and text and self.lead and covers(text, self.lead):
            self.open = True
        if self.open and self.held:
            yield "".join(self.held)
            self.held.clear()


class _AnswerBuilder:
    """Collects checked sentences; numbers their evidence as citations [1], [2], ..."""

    def __init__(self, passages: list[Passage]):
        self.passages = passages
        self.kept: list[str] = []
        self.citations: list[Citation] = []
        self.dropped = 0
        self.abstentions = 0
        self.looping = False
        self._seen: set[str] = set()

    @property
    def count(self) -> int:
        return len(self.kept)

    @property
    def text(self) -> str:
        return " ".join(self.kept)

    def add(self, check: SentenceCheck) -> str:
        key = re.sub(r"\W+", " ", check.claim.lower()).strip()
        if key in self._seen:  # a small model repeating itself: stop reading
            self.looping = True
            return ""
        self._seen.add(key)
        if not check.supported:
            if _ABSTAINS.search(check.claim) and not check.cited:
                self.abstentions += 1
            else:
                self.dropped += 1
            return ""
        numbers = []
        for ev in check.evidence:
            p = self.passages[ev.passage - 1]
            citation = Citation(n=0, doc_id=p.doc_id, source=p.source, start=ev.start, end=ev.end,
                                quote=ev.quote, title=p.title, date=p.date)
            if not _verified(citation, p):
                continue
            n = self._number(citation)
            if n not in numbers:
                numbers.append(n)
        if not numbers:
            self.dropped += 1
            return ""
        sentence = _with_markers(check.claim, numbers)
        self.kept.append(sentence)
        return sentence if len(self.kept) == 1 else " " + sentence

    def _number(self, citation: Citation) -> int:
        for c in self.citations:
            if (c.doc_id, c.start, c.end) == (citation.doc_id, citation.start, citation.end):
                return c.n
        n = len(self.citations) + 1
        self.citations.append(Citation(**{**citation.__dict__, "n": n}))
        return n


def _verified(citation: Citation, passage: Passage) -> bool:
    """The quote is the document's text at its span (re-read from the source when it is here)."""
    return verify(citation, passage.text, passage.start)


def _with_markers(claim: str, numbers: list[int]) -> str:
    marks = "".join(f"[{n}]" for n in numbers)
    m = re.search(r"([.!?…]+[\"”’)]*)$", claim)
    if m:
        return f"{claim[: m.start()].rstrip()} {marks}{m.group(1)}"
    return f"{claim} {marks}"


def _finished_sentences(pending: str) -> tuple[list[str], str]:
    """Sentences of ``pending`` known to be complete (a real sentence has begun after them),
    and the rest, still being written."""
    spans = [sp for sp in split_sentences(pending) if sp.text.strip()]

    def wordless(text: str) -> bool:  # "[", "[2", "[2]." may still belong to the sentence before
        return not re.search(r"[A-Za-z]", MARKER.sub("", text))

    while spans and wordless(spans[-1].text):
        spans.pop()
    if len(spans) < 2:
        return [], pending
    cut = spans[-1].start
    lead = LEADING_MARKERS.match(pending, cut)  # "letter. [1] Welles": [1] is the letter's
    if lead:
        cut = lead.end()
    return answer_sentences(pending[:cut]), pending[cut:]


def _chunk_text(chunk) -> str:
    content = getattr(chunk, "content", chunk)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)
    return str(content)
