"""The Python API: ``Assistant.open(...)`` then ``.ask(question, history)``.

The CLI, the chat page and the eval are thin layers on this class.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from assistant.answer import Answer
from assistant.chain import AnswerChain
from assistant.config import DEFAULT_K, Settings, check_question, llm_timeout, parse_spec
from assistant.index import open_for_query
from assistant.retrieval import Filters, HybridRetriever


class Assistant:
    def __init__(self, index, chain, llm: str | None = None):
        self.index = index
        self.chain = chain
        self.llm = llm

    @classmethod
    def open(
        cls,
        index: str | Path | None = None,
        collection: str | None = None,
        llm: str | None = None,
        k: int = DEFAULT_K,
        doc_ids: tuple[str, ...] | list[str] = (),
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> Assistant:
        settings = Settings.resolve(index=index, collection=collection)
        store = open_for_query(settings)
        retriever = HybridRetriever(store, k=k, filters=Filters(tuple(doc_ids), date_from, date_to))
        counts = store.counts()
        subject = "telegram" if counts["documents"] == 1 and _is_telegram(store) else (
            "document" if counts["documents"] == 1 else "documents")
        # llm: the --llm / ASSISTANT_LLM spec ("none", "local", "ollama:M", "openai:M")
        chain = AnswerChain(retriever, subject=subject, llm=_make_llm(llm), multi_document=counts["documents"] != 1)
        return cls(store, chain, llm=llm)

    @property
    def embeddings(self):
        """The index's embedding model (``LocalEmbeddings``): reuse it rather than load another copy."""
        return self.index.embeddings

    @property
    def runnable(self):
        """The LangChain Runnable: ``invoke``/``stream``/``batch`` over {"question", "history"}."""
        return self.chain.runnable

    def as_retriever(self):
        """The hybrid retrieval as a LangChain ``BaseRetriever`` (``invoke(question)`` → the
        k Documents the answer is built from, each carrying its chunk and ranks)."""
        from assistant.langchain_retriever import LangChainRetriever  # LangChain's classes: only when asked for

        return LangChainRetriever(retriever=self.chain.retriever)

    def ask(self, question: str, history: list[Answer] | None = None) -> Answer:
        question = check_question(question)
        t0 = time.perf_counter()
        answer = self.chain.answer(question, list(history or []))
        return answer.replace(timings_ms={**answer.timings_ms, "total": round((time.perf_counter() - t0) * 1000, 2)})

    def stream(self, question: str, history: list[Answer] | None = None) -> Iterator[Answer]:
        """Partial ``Answer``s with growing text; the last one is final, with citations. The
        chain's own generator, not ``runnable``: LangChain's runnables are not needed here."""
        question = check_question(question)
        yield from self.chain.stream(question, list(history or []))


def _make_llm(spec: str | None):
    """``llm.make_llm(spec)``, without importing llm.py (LangChain's chat-model and message
    classes) when no LLM is asked for: an extractive answer never needs them. The spec and a
    bad ``ASSISTANT_LLM_TIMEOUT`` are still errors here, as make_llm reports them."""
    parsed = parse_spec(spec)
    llm_timeout()
    if parsed.kind == "none":
        return None
    from assistant.llm import make_llm

    return make_llm(parsed)


def _is_telegram(store) -> bool:
    return any("telegram" in (c.text.lower()) for c in store.all_chunks() if c.kind == "kind")
