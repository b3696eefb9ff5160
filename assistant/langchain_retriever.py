"""The hybrid retriever (retrieval.py) as a LangChain ``BaseRetriever``.

Its own module so that only a caller who asks for it (``Assistant.as_retriever()``) pays
for LangChain's retriever classes (~0.5 s of imports: runnables, tracers, LangSmith's
models); ``ask`` searches through the plain ``HybridRetriever``. The Documents are the
same chunks, in the same order, as ``HybridRetriever.search`` gives.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.chunks import Chunk
from assistant.retrieval import HybridRetriever


class LangChainRetriever(BaseRetriever):
    """Top-k chunks for a question; each LangChain Document carries the chunk and its ranks
    (``metadata["chunk"]``, ``dense_rank``, ``bm25_rank``, ``score`` …)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: HybridRetriever

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [to_document(chunk, info) for chunk, info in self.retriever.search(query)]


def to_document(chunk: Chunk, info: dict) -> Document:
    return Document(page_content=chunk.text, id=chunk.id, metadata={"chunk": chunk, **info})
