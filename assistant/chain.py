"""The answering chain, and the LangChain Runnable over it.

    {"question", "history"} → resolve follow-up (followup.py) → hybrid retrieval (retrieval.py)
    → question analysis (question.py) → candidates: sentences, clauses, fields (candidates.py)
    → features (features.py) → fitted scorer (scoring.py) → answer or abstain (decision.py)
    → lead span (lead.py) → checked citations → Answer

``AnswerChain.answer`` gives the final ``Answer``; ``AnswerChain.stream`` yields ``Answer``s
whose text grows (the last one carries the citations). ``AnswerChain.runnable`` is the same
chain as a LangChain Runnable over that generator: ``invoke`` returns the final ``Answer``,
``stream`` the growing ones, ``batch`` answers several inputs. Every step is deterministic:
ties are broken by ids and offsets, never by iteration order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING

from assistant import candidates as cands
from assistant import decision as decisions
from assistant import features, followup, scoring, spelling
from assistant import lead as leads
from assistant import question as questions
from assistant.answer import Answer, Citation, Passage, progressive
from assistant.citations import verify
from assistant.prompts import abstention
from assistant.retrieval import Filters, HybridRetriever
from assistant.text import stems

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableGenerator

    # the LLM steps (generative.py, grounding.py) load on the first LLM answer:
    # they pull LangChain's chat-model and message classes, which an extractive ask never needs
    from assistant.grounding import GroundingChecker

log = logging.getLogger(__name__)
PARTNER_FIELDS = {"sender": "signature", "signature": "sender"}  # who sent it: office and name together


class AnswerChain:
    def __init__(self, retriever: HybridRetriever, subject: str = "telegram", llm=None, model_path: str | None = None,
                 multi_document: bool = False):
        self.retriever = retriever
        self.subject = subject
        self.multi_document = multi_document  # a collection: cited documents are named, wording is plural
        self.llm = llm  # a LangChain chat model (assistant.llm.make_llm) or None: extractive only
        self.model_path = model_path  # the answer model file; default assistant/data/answer_model.json
        self._grounding: GroundingChecker | None = None  # made on the first LLM answer (it embeds)

    # --- steps ---------------------------------------------------------------------

    def answer(self, question: str, history: list[Answer] | None = None, use_llm: bool = True) -> Answer:
        if use_llm and self.llm is not None:  # checked LLM sentences on top of this extractive answer
            return list(self._llm_answers(question, history))[-1]
        t0 = time.perf_counter()
        typed = self._respell(question)
        resolved = self._resolve(typed, history)
        t1 = time.perf_counter()
        hits = self._search(resolved)
        t2 = time.perf_counter()
        q, candidates = self.candidates(resolved, hits)
        model = scoring.load(self.model_path)
        scoring.score(candidates, model)
        if log.isEnabledFor(logging.INFO):  # (-v) ranking and formatting every answer's candidates costs
            ranked = decisions.ranked(candidates)
            log.info("candidates for %r (%s question), best first: %s", resolved.text, q.qtype, "; ".join(
                f"{c.score:.3f} {c.kind} {c.doc_id}:{c.start}-{c.end} {c.text[:80]!r}" for c in ranked[:5]))
            if log.isEnabledFor(logging.DEBUG):
                log.debug("all %d candidates: %s", len(candidates), "; ".join(
                    f"{c.score:.3f} {c.kind} {c.doc_id}:{c.start}-{c.end} {c.features}" for c in ranked))
        decision = decisions.decide(candidates, q.qtype, model.threshold, model.margin,
                                    confidence=lambda best, cs: scoring.answer_probability(
                                        best, cs, model, one_document=not self.multi_document),
                                    foreign=bool(q.weights) and not q.known
                                    and not any(c.features.get("cov") for c in candidates))
        log.info("%s (confidence %.3f, threshold %.3f, margin %.2f)", f"abstained: {decision.reason}"
                 if decision.abstained else "answered", decision.score, model.threshold, model.margin)
        answer = self._compose(question, q, resolved, decision, hits)
        t3 = time.perf_counter()
        timings = {"resolve": (t1 - t0) * 1000, "retrieve": (t2 - t1) * 1000, "answer": (t3 - t2) * 1000,
                   "total": (t3 - t0) * 1000}
        return answer.replace(timings_ms={k: round(v, 2) for k, v in timings.items()})

    def _respell(self, question: str) -> str:
        """Misspelled English words corrected ("prisonners"); a word close to one the collection
        uses is left for the lexicon's own correction ("roskowski" → "Roszkowski")."""
        lexicon = self.retriever.lexicon()
        return spelling.respell(question, known=lambda w: any(s in lexicon.df for s in lexicon.correct(stems(w))))

    def _search(self, resolved: followup.Resolved):
        """Retrieval; a turn that continues a conversation over a collection searches only the
        conversation's documents (``resolved.documents``: a follow-up is about what was just
        said), within the user's own filters; nothing found there, the whole collection."""
        docs = resolved.documents if self.multi_document else ()
        own = self.retriever.filters
        if own.doc_ids:
            docs = tuple(d for d in docs if d in own.doc_ids)
        if not docs:
            return self.retriever.search(resolved.text)
        hits = self.retriever.narrowed(Filters(docs, own.date_from, own.date_to)).search(resolved.text)
        return hits or self.retriever.search(resolved.text)

    def _resolve(self, question: str, history: list[Answer] | None) -> followup.Resolved:
        """With an LLM, the follow-up rewritten through prompts/rewrite_*.txt; without one (or
        when its rewrite is unusable), the deterministic resolution."""
        resolved = followup.resolve(question, history, collection=self.multi_document)
        if self.llm is not None and history:
            from assistant.generative import rewrite_followup

            rewritten = rewrite_followup(self.llm, question, history, subject=self.subject,
                                         multi_document=self.multi_document)
            if rewritten:
                return followup.Resolved(rewritten, question, True, resolved.context, resolved.context_text,
                                         resolved.documents)
        return resolved

    def candidates(self, resolved: followup.Resolved, hits) -> tuple[questions.Question, list[cands.Candidate]]:
        """Question analysis, candidates and their features (everything before scoring)."""
        lexicon = self.retriever.lexicon()
        q = questions.analyze(resolved.text, lexicon, own=resolved.own if resolved.followup else None,
                              context=resolved.context_text)
        found = cands.from_hits(hits, self.retriever.index, heading_context=self.multi_document)
        qv = self.retriever.index.embeddings.embed_query(resolved.text)
        cands.attach_dense(found, self.retriever.index, qv)
        features.compute(q, found, list(resolved.context) if resolved.followup else [])
        return q, found

    def _partner(self, c: cands.Candidate, candidates_seen=()) -> cands.Candidate | None:
        other = PARTNER_FIELDS.get(c.field_kind)
        if c.kind != "field" or other is None:
            return None
        chunk = self.retriever.index.field_chunk(c.doc_id, other)
        if chunk is None:
            return None
        return cands.Candidate(chunk, chunk.start, chunk.end, chunk.text, "field", c.rank,
                               (chunk.start, chunk.end), chunk.search_text)

    def _compose(self, question: str, q, resolved, decision: decisions.Decision, hits) -> Answer:
        passages = tuple(_passage(chunk, info) for chunk, info in hits)
        related = tuple(c for c in (_citation(c, i + 1) for i, c in enumerate(decision.related)) if c)
        # decide() always sets ``chosen`` when it does not abstain; the None test only narrows the type.
        if decision.abstained or decision.chosen is None:
            text = abstention(self.subject, plural=self.multi_document)
            if related:
                text += " The closest passages are shown as related."
            return Answer(question=question, answer=text, abstained=True, related=related,
                          resolved_question=resolved.text, passages=passages)
        lead = leads.lead_span(q, decision.chosen)
        best = _widened_to_lead(decision.chosen, lead)
        quoted, lead_text, partner = self._quoted(q, best, lead)
        checked = [c for c in (_citation(c, i + 1) for i, c in enumerate(quoted)) if c is not None]
        if not checked:
            log.info("abstained: the quoted text is no longer in %s (changed since it was ingested)", best.chunk.source)
            return Answer(question=question, answer=abstention(self.subject, plural=self.multi_document), abstained=True,
                          resolved_question=resolved.text, passages=passages,
                          notice="the cited source changed since it was ingested; run: assistant ingest")
        citations = [Citation(**{**c.__dict__, "n": i + 1}) for i, c in enumerate(checked)]
        text, citations, related = _answer_text(q.qtype, best, lead, lead_text, partner is not None, citations, related)
        if self.multi_document:  # several documents: name each cited one, once
            text += "\n\nSources: " + _sources(citations)
        return Answer(question=question, answer=text, abstained=False, citations=tuple(citations),
                      related=related, lead=lead_text, resolved_question=resolved.text, passages=passages)

    def _quoted(self, q, best: cands.Candidate, lead: leads.Lead | None
                ) -> tuple[list[cands.Candidate], str | None, cands.Candidate | None]:
        """What to quote, the lead text, and the partner field quoted with ``best`` (if any)."""
        lead_text = lead.text if lead else None
        partner = self._partner(best) if q.qtype in ("who", "what", "which") else None
        if partner is None:
            return [best], lead_text, None
        sig = best if best.field_kind == "signature" else partner
        office = partner if sig is best else best
        o = office.text
        lead_text = f"{sig.text}, {o[:1].lower() + o[1:] if o.startswith('The ') else o}"
        return sorted([best, partner], key=lambda c: c.start), lead_text, partner

    def _llm_answers(self, question: str, history: list[Answer] | None = None) -> Iterator[Answer]:
        """With an LLM: the extractive answer, then partial ``Answer``s as checked sentences
        arrive (generative.py), then the final one (what ``Assistant.stream`` yields)."""
        from assistant.generative import stream_generative
        from assistant.grounding import GroundingChecker

        t0 = time.perf_counter()
        extractive = self.answer(question, history, use_llm=False)
        if self._grounding is None:
            self._grounding = GroundingChecker(self.retriever.index.embeddings)
        text = ""
        for item in stream_generative(self.llm, extractive.resolved_question or question, extractive.passages,
                                      extractive, history, subject=self.subject,
                                      multi_document=self.multi_document, checker=self._grounding):
            if isinstance(item, str):
                text += item
                yield Answer(question=question, answer=text, abstained=False,
                             resolved_question=extractive.resolved_question, mode="llm")
                continue
            final = item.replace(timings_ms={**item.timings_ms,
                                             "total": round((time.perf_counter() - t0) * 1000, 2)})
            if text:
                yield final
            else:
                yield from progressive(final)

    def stream(self, question: str, history: list[Answer] | None = None) -> Iterator[Answer]:
        """Partial ``Answer``s with growing text; the last one is final, with citations."""
        if self.llm is not None:  # partial answers as the LLM's checked sentences arrive
            yield from self._llm_answers(question, history)
            return
        yield from progressive(self.answer(question, history))

    # --- Runnable --------------------------------------------------------------------

    @cached_property
    def runnable(self) -> RunnableGenerator:
        """The chain as a LangChain Runnable over {"question", "history"}. Made on first use:
        LangChain's runnables (with its tracers) take ~0.7 s to import, which neither ``answer``
        nor ``stream`` (``ask``, the chat page) needs."""
        from langchain_core.runnables import RunnableGenerator

        return RunnableGenerator(self._stream_inputs, name="GroundedAnswer")

    def _stream_inputs(self, inputs: Iterator[dict]) -> Iterator[Answer]:
        for item in inputs:
            yield from self.stream(item["question"], item.get("history"))


def _widened_to_lead(best: cands.Candidate, lead: leads.Lead | None) -> cands.Candidate:
    if lead is not None and best.kind != "field" and not (best.start <= lead.start and lead.end <= best.end):
        # The lead stands just outside the clause ("March 22 and | March 23 these …"): quote both.
        s, e = min(best.start, lead.start), max(best.end, lead.end)
        return cands.Candidate(best.chunk, s, e, best.chunk.text[s - best.chunk.start : e - best.chunk.start],
                               "clause", best.rank, best.sentence, "")
    return best


def _answer_text(qtype: str, best: cands.Candidate, lead: leads.Lead | None, lead_text: str | None,
                 has_partner: bool, citations: list[Citation], related: tuple[Citation, ...]
                 ) -> tuple[str, list[Citation], tuple[Citation, ...]]:
    """The answer's text, its citations and related passages (the lead alone when the whole is too long)."""
    quotes = " ".join(f"“{c.quote}” [{c.n}]" for c in citations)
    if not lead_text or (len(citations) == 1 and lead_text == citations[0].quote):
        return quotes, citations, related
    text = f"{_capitalize(lead_text)}: {quotes}"
    if len(text) > decisions.limit(qtype) and lead is not None and not has_partner:
        # Too long with its clause: the lead alone, cited at its own span; the clause is context.
        lead_c = cands.Candidate(best.chunk, lead.start, lead.end, lead.text, "clause", best.rank,
                                 best.sentence, lead.text)
        own = _citation(lead_c, 1)
        if own is not None:
            related = tuple(Citation(**{**c.__dict__, "n": i + 1})
                            for i, c in enumerate([citations[0], *related][: decisions.MAX_RELATED]))
            return f"“{own.quote}” [1]", [own], related
    return text, citations, related


def _sources(citations: list[Citation]) -> str:
    """Each cited document, named once, after the numbers of its citations."""
    by_doc: dict[str, list[Citation]] = {}
    for c in citations:
        by_doc.setdefault(c.doc_id, []).append(c)
    return "; ".join(
        f"[{', '.join(str(c.n) for c in cs)}] {cs[0].title or cs[0].doc_id}" + (f" ({cs[0].date})" if cs[0].date else "")
        for cs in by_doc.values()
    )


def _capitalize(s: str) -> str:
    return s[:1].upper() + s[1:]


def _citation(c: cands.Candidate, n: int) -> Citation | None:
    cit = Citation(n=n, doc_id=c.chunk.doc_id, source=c.chunk.source, start=c.start, end=c.end,
                   quote=c.text, title=c.chunk.title, date=c.chunk.date)
    return cit if verify(cit, c.chunk.text, c.chunk.start) else None


def _passage(chunk, info: dict) -> Passage:
    return Passage(
        id=chunk.id, doc_id=chunk.doc_id, source=chunk.source, title=chunk.title, date=chunk.date,
        kind=chunk.kind, start=chunk.start, end=chunk.end, text=chunk.text, score=round(info["score"], 6),
        dense_rank=info.get("dense_rank"), bm25_rank=info.get("bm25_rank"),
        dense_score=round(info["dense_score"], 6) if "dense_score" in info else None,
        bm25_score=round(info["bm25_score"], 6) if "bm25_score" in info else None,
        sentences=chunk.sentences,
    )
