"""The answering chain as a LangChain Runnable.

    {"question", "history"} → resolve follow-up → hybrid retrieval → score sentences
    → extractive decision → checked citations → Answer

``invoke`` returns the final ``Answer``; ``stream`` yields ``Answer``s whose text grows
(the last one carries the citations); ``batch`` answers several inputs. Every step is
deterministic: ties are broken by ids and offsets, never by iteration order.
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import numpy as np
from langchain_core.runnables import RunnableGenerator

from assistant import extractive, followup, spelling
from assistant.answer import Answer, Citation, Passage
from assistant.citations import verify
from assistant.retrieval import HybridRetriever, stems


class AnswerChain:
    def __init__(self, retriever: HybridRetriever, subject: str = "telegram", llm=None):
        self.retriever = retriever
        self.subject = subject
        self.llm = llm  # a LangChain chat model (assistant.llm.make_llm) or None: extractive only
        self.runnable = RunnableGenerator(self._stream, name="GroundedAnswer")

    # --- steps ---------------------------------------------------------------------

    def answer(self, question: str, history: list[Answer] | None = None, use_llm: bool = True) -> Answer:
        if use_llm and self.llm is not None:  # checked LLM sentences on top of this extractive answer
            from assistant.generative import stream_chain

            return list(stream_chain(self, question, history))[-1]
        t0 = time.perf_counter()
        typed = self._respell(question)
        resolved = self._resolve(typed, history)
        t1 = time.perf_counter()
        hits = self.retriever.search(resolved)
        t2 = time.perf_counter()
        decision, candidates = self._decide(resolved, hits, primary=typed)
        answer = self._compose(question, resolved, decision, hits)
        t3 = time.perf_counter()
        timings = {"resolve": (t1 - t0) * 1000, "retrieve": (t2 - t1) * 1000, "answer": (t3 - t2) * 1000,
                   "total": (t3 - t0) * 1000}
        return answer.replace(timings_ms={k: round(v, 2) for k, v in timings.items()})

    def _respell(self, question: str) -> str:
        """Misspelled English words corrected ("prisonners"); a word close to one the collection
        uses is left for the lexicon's own correction ("roskowski" → "Roszkowski")."""
        lexicon = self.retriever.lexicon()
        return spelling.respell(question, known=lambda w: any(s in lexicon.df for s in lexicon.correct(stems(w))))

    def _resolve(self, question: str, history: list[Answer] | None) -> str:
        """With an LLM, the follow-up rewritten through prompts/rewrite_*.txt; without one (or
        when its rewrite is unusable), the deterministic resolution."""
        if self.llm is not None and history:
            from assistant.generative import rewrite_followup

            rewritten = rewrite_followup(self.llm, question, history, subject=self.subject)
            if rewritten:
                return rewritten
        return followup.resolve(question, history)

    def _decide(self, question: str, hits, primary: str | None = None):
        lexicon = self.retriever.lexicon()
        q = extractive.analyze(question, lexicon, stems, primary=primary)
        candidates: list[extractive.Candidate] = []
        for rank, (chunk, _info) in enumerate(hits):
            for s, e in chunk.sentences:
                text = chunk.text[s - chunk.start : e - chunk.start]
                if chunk.kind not in ("body", "notes"):
                    match_text = chunk.search_text
                elif self.subject.endswith("s"):
                    # Among many documents, "Hull's telegram of January 16" is matched by the
                    # document's heading and date, not by the sentence itself.
                    match_text = chunk.search_text[: len(chunk.search_text) - len(chunk.text)] + text
                else:
                    match_text = text
                candidates.append(extractive.Candidate(chunk, s, e, text, match_text, rank))
        # Each sentence once, at its best-ranked chunk (windows overlap by a sentence).
        unique: dict[tuple[str, int, int], extractive.Candidate] = {}
        for c in candidates:
            unique.setdefault((c.chunk.doc_id, c.start, c.end), c)
        candidates = list(unique.values())
        vectors = self.retriever.index.unit_vectors(list(unique))
        qv = np.asarray(self.retriever.index.embeddings.embed_query(question), dtype=np.float32)
        for key, c in unique.items():
            v = vectors.get(key)
            c.dense = float(np.dot(qv, np.asarray(v, dtype=np.float32))) if v is not None else 0.0
        return extractive.decide(q, candidates, stems, fetch_field=self._field_candidate,
                                 similar=self._word_similarity, previous=self._previous_sentence,
                                 central=self._central_sentences), candidates

    def _previous_sentence(self, c: extractive.Candidate) -> extractive.Candidate | None:
        unit = self.retriever.index.unit_before(c.chunk.doc_id, c.start)
        if unit is None or unit["kind"] != c.chunk.kind:
            return None
        chunk = self.retriever.index.chunk_containing(c.chunk.doc_id, unit["start"], unit["end"])
        if chunk is None:
            return None
        text = chunk.text[unit["start"] - chunk.start : unit["end"] - chunk.start]
        return extractive.Candidate(chunk, unit["start"], unit["end"], text, text, rank=c.rank)

    def _central_sentences(self, doc_id: str, n: int) -> list[extractive.Candidate]:
        out = []
        for start, end in self.retriever.index.central_units(doc_id, n):
            chunk = self.retriever.index.chunk_containing(doc_id, start, end)
            if chunk is not None:
                text = chunk.text[start - chunk.start : end - chunk.start]
                out.append(extractive.Candidate(chunk, start, end, text, text, rank=0))
        return out

    def _word_similarity(self, word: str, text: str) -> float:
        """Cosine of ``word`` with the closest word of ``text`` (word vectors cached per process)."""
        words = sorted({w.lower() for w in re.findall(r"[A-Za-z]{3,}", text)})
        if not words:
            return 0.0
        cache = self.__dict__.setdefault("_word_vectors", {})
        missing = [w for w in [word, *words] if w not in cache]
        if missing:
            for w, v in zip(missing, self.retriever.index.embeddings.embed_documents(missing)):
                cache[w] = np.asarray(v, dtype=np.float32)
        q = cache[word]
        return max(float(np.dot(q, cache[w])) for w in words)

    def _field_candidate(self, doc_id: str, kind: str) -> extractive.Candidate | None:
        """A document's structural field that retrieval did not bring (e.g. its signature)."""
        chunk = self.retriever.index.field_chunk(doc_id, kind)
        if chunk is None:
            return None
        return extractive.Candidate(chunk, chunk.start, chunk.end, chunk.text, chunk.search_text, rank=self.retriever.k)

    def _compose(self, question: str, resolved: str, decision: extractive.Decision, hits) -> Answer:
        passages = tuple(_passage(chunk, info) for chunk, info in hits)
        if decision.abstained:
            from assistant.prompts import abstention

            related = tuple(c for c in (_citation(c, i + 1) for i, c in enumerate(decision.related)) if c)
            text = abstention(self.subject)
            if related:
                text += " The closest passages are shown as related."
            return Answer(question=question, answer=text, abstained=True, related=related,
                          resolved_question=resolved, passages=passages)
        citations = [_citation(c, i + 1) for i, c in enumerate(decision.chosen)]
        dropped = sum(1 for c in citations if c is None)
        citations = [c for c in citations if c is not None]
        if not citations:
            from assistant.prompts import abstention

            return Answer(question=question, answer=abstention(self.subject), abstained=True,
                          resolved_question=resolved, passages=passages,
                          notice="the cited source changed since it was ingested; run: assistant ingest")
        citations = [Citation(**{**c.__dict__, "n": i + 1}) for i, c in enumerate(citations)]
        quotes = " ".join(f"“{c.quote}” [{c.n}]" for c in citations)
        lead = decision.lead
        if lead and len(citations) == 1 and lead == citations[0].quote:
            text = quotes
        elif lead:
            text = f"{_capitalize(lead)}: {quotes}"
        else:
            text = quotes
        if self.subject.endswith("s"):  # several documents: name each cited one, once
            by_doc: dict[str, list[Citation]] = {}
            for c in citations:
                by_doc.setdefault(c.doc_id, []).append(c)
            names = [
                f"[{', '.join(str(c.n) for c in cs)}] {cs[0].title or cs[0].doc_id}" + (f" ({cs[0].date})" if cs[0].date else "")
                for cs in by_doc.values()
            ]
            text += "\n\nSources: " + "; ".join(names)
        return Answer(question=question, answer=text, abstained=False, citations=tuple(citations),
                      lead=lead, resolved_question=resolved, passages=passages,
                      notice="a citation whose source changed since ingest was left out" if dropped else None)

    # --- Runnable --------------------------------------------------------------------

    def _stream(self, inputs: Iterator[dict]) -> Iterator[Answer]:
        for item in inputs:
            if self.llm is not None:  # partial answers as the LLM's checked sentences arrive
                from assistant.generative import stream_chain

                yield from stream_chain(self, item["question"], item.get("history"))
                continue
            final = self.answer(item["question"], item.get("history"))
            for partial in progressive(final):
                yield partial


def progressive(final: Answer) -> Iterator[Answer]:
    """The answer word by word as partial Answers (no citations yet), then the final one."""
    words = re.findall(r"\S+\s*", final.answer)
    text = ""
    for w in words[:-1]:
        text += w
        yield Answer(question=final.question, answer=text, abstained=final.abstained,
                     resolved_question=final.resolved_question, mode=final.mode)
    yield final


def _capitalize(s: str) -> str:
    return s[:1].upper() + s[1:]


def _citation(c: extractive.Candidate, n: int) -> Citation | None:
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
