"""The ``assistant`` command: a thin layer on ``assistant.api``.

Heavy imports (torch, Chroma, LangChain, Gradio, the answer stages) happen inside the commands, so
``assistant --help`` is instant and ``ask`` never imports Gradio.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import typer

from assistant.answer import display_source
from assistant.config import DEFAULT_K, Settings, check_question
from assistant.errors import DamagedIndex, UserError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Grounded answers from a primary source, with checked citations. Offline by default.",
)

IndexOpt = typer.Option(None, "--index", help="Index folder (default: $ASSISTANT_INDEX_DIR or .index/).")
CollectionOpt = typer.Option(None, "--collection", help="Collection name (default: telegram).")
DocOpt = typer.Option(None, "--doc", help="Search only this document (its id, see `assistant collections "
                      "--collection NAME`); repeat for several.")
FromOpt = typer.Option(None, "--from", help="Only documents dated on or after YYYY-MM-DD (undated ones are left out).")
ToOpt = typer.Option(None, "--to", help="Only documents dated on or before YYYY-MM-DD (undated ones are left out).")
LlmOpt = typer.Option(None, "--llm", help="LLM for fluent answers on the same checked citations: none (default), "
                      "local, ollama:MODEL or openai:MODEL (default: $ASSISTANT_LLM).")


def _err(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


@app.callback()
def _options(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True,
                                help="Log what the answer was built from: -v retrieval, candidates and "
                                     "abstentions (INFO), -vv more detail (DEBUG)."),
) -> None:
    from assistant.logs import setup_logging

    setup_logging(verbose)


@app.command()
def ingest(
    paths: list[Path] | None = typer.Argument(None, help="Files or folders (default: seeds/)."),
    index: Path | None = IndexOpt,
    collection: str | None = CollectionOpt,
    rebuild: bool = typer.Option(False, "--rebuild", help="Drop the collection and build it again."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Add documents to the index (idempotent: unchanged files add nothing)."""
    from assistant.index import Index, default_paths  # heavy (LangChain, Chroma): keeps --help instant

    idx = Index(Settings.resolve(index=index, collection=collection))
    report = idx.ingest(list(paths) if paths else default_paths(), progress=not quiet, rebuild=rebuild)
    typer.echo(f"{idx.settings.collection}: {report.line()}")


def _print_answer(answer, as_json: bool, text_shown: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    style = "yellow" if answer.abstained else "bold"
    if not text_shown:  # (streamed answers have printed their text already)
        console.print(escape(answer.answer), style=style)
    if answer.notice:
        console.print(f"note: {escape(answer.notice)}", style="dim")
    listed = answer.citations or answer.related
    if listed:
        console.print("related passages:" if answer.abstained else "", style="dim", end="\n" if answer.abstained else "")
    for c in listed:
        console.print(
            f"[{c.n}] {escape(display_source(c.source))}:{c.start}-{c.end}  “{escape(c.quote)}”",
            style="dim" if answer.abstained else "cyan",
        )


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as one JSON object."),
    index: Path | None = IndexOpt,
    collection: str | None = CollectionOpt,
    k: int = typer.Option(DEFAULT_K, "-k", min=1, max=50, help="Passages retrieved."),
    doc: list[str] | None = DocOpt,
    date_from: str | None = FromOpt,
    date_to: str | None = ToOpt,
    llm: str | None = LlmOpt,
) -> None:
    """Answer one question from the indexed documents."""
    from assistant.api import Assistant  # the answer stages (~0.2 s): keeps --help instant

    check_question(question)  # before loading anything
    filters = _filters(doc, date_from, date_to)
    assistant = Assistant.open(index=index, collection=collection, k=k, llm=llm, **filters)
    _check_doc_ids(assistant, filters["doc_ids"])
    if assistant.chain.llm is not None and not as_json:
        _print_streamed(assistant, question)
    else:
        _print_answer(assistant.ask(question), as_json)


@app.command()
def chat(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per answer."),
    index: Path | None = IndexOpt,
    collection: str | None = CollectionOpt,
    k: int = typer.Option(DEFAULT_K, "-k", min=1, max=50, help="Passages retrieved."),
    doc: list[str] | None = DocOpt,
    date_from: str | None = FromOpt,
    date_to: str | None = ToOpt,
    llm: str | None = LlmOpt,
) -> None:
    """A conversation: one question per line on stdin; follow-ups use the history."""
    from assistant.api import Assistant  # the answer stages (~0.2 s): keeps --help instant

    filters = _filters(doc, date_from, date_to)
    assistant = Assistant.open(index=index, collection=collection, k=k, llm=llm, **filters)
    _check_doc_ids(assistant, filters["doc_ids"])
    interactive = sys.stdin.isatty()
    history: list = []
    while True:
        if interactive:
            typer.echo("? ", nl=False)
        raw = sys.stdin.buffer.readline()
        if not raw:
            break
        try:  # one line that is not UTF-8 is an error for that line only
            question = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            _err(f"line is not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1}): "
                 f"{raw.decode('utf-8', 'replace').strip()[:60]!r}; skipped")
            continue
        if not question:
            continue
        try:
            if assistant.chain.llm is not None and not as_json:
                history.append(_print_streamed(assistant, question, history))
                sys.stdout.flush()
                continue
            answer = assistant.ask(question, history)
        except UserError as exc:  # one bad line does not end the conversation
            _err(str(exc))
            continue
        history.append(answer)
        _print_answer(answer, as_json)
        sys.stdout.flush()


def _print_streamed(assistant, question: str, history=None):
    """Print the answer's text as the LLM's checked sentences arrive, then its citations."""
    shown = ""
    final = None
    for final in assistant.stream(question, history):
        if final.answer.startswith(shown):
            sys.stdout.write(final.answer[len(shown):])
            sys.stdout.flush()
            shown = final.answer
    if final is None:
        return None
    if shown != final.answer:  # not a continuation of what streamed: print it whole
        sys.stdout.write(("\n" if shown else "") + final.answer)
    sys.stdout.write("\n")
    _print_answer(final, as_json=False, text_shown=True)
    return final


# --- collections and search filters (--doc, --from, --to) ---------------------------


def _iso_date(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    import datetime

    try:
        return datetime.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise UserError(f"invalid {flag} date {value!r}: use YYYY-MM-DD, e.g. 1941-12-08") from None


def _filters(doc: list[str] | None, date_from: str | None, date_to: str | None) -> dict:
    """The search filters for ``Assistant.open``, checked before anything is loaded."""
    start, end = _iso_date(date_from, "--from"), _iso_date(date_to, "--to")
    if start and end and start > end:
        raise UserError(f"--from {start} is after --to {end}: nothing can match")
    doc_ids = tuple(dict.fromkeys(d.strip() for d in (doc or ()) if d.strip()))
    return {"doc_ids": doc_ids, "date_from": start, "date_to": end}


def _check_doc_ids(assistant, doc_ids: tuple[str, ...]) -> None:
    """A --doc that names no document of the collection is a mistake, not an empty search."""
    if not doc_ids:
        return
    import difflib

    known = sorted(assistant.index.manifest())
    for doc_id in doc_ids:
        if doc_id not in known:
            # "d180" for "frus1941v06_d180": ids from a TEI volume are prefixed with the volume.
            close = [k for k in known if k.endswith(f"_{doc_id}")][:3] or difflib.get_close_matches(
                doc_id, known, n=3, cutoff=0.6)
            name = assistant.index.settings.collection
            hint = f"did you mean {', '.join(close)}?" if close else f"list them: assistant collections --collection {name}"
            raise UserError(f"no document {doc_id!r} in collection {name!r}; {hint}")


def _collection_rows(client) -> list[dict]:
    """Every assistant collection (a NAME with NAME.units and NAME.docs beside it) and its counts."""
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    rows = []
    for name in sorted(n for n in names if f"{n}.docs" in names and f"{n}.units" in names):
        manifest = client.get_collection(f"{name}.docs", embedding_function=None).get(include=["metadatas"])
        statuses = [m.get("status") for m in manifest["metadatas"]]
        chunks = client.get_collection(name, embedding_function=None)
        rows.append({
            "collection": name,
            "documents": sum(1 for s in statuses if s == "complete"),
            "incomplete": sum(1 for s in statuses if s != "complete"),
            "chunks": chunks.count(),
            "embedding_model": (chunks.metadata or {}).get("embedding_model"),
        })
    return rows


def _document_rows(client, name: str) -> list[dict]:
    manifest = client.get_collection(f"{name}.docs", embedding_function=None).get(include=["metadatas"])
    rows = [
        {"doc_id": i, "date": m.get("date") or None, "title": m.get("title", ""), "chunks": m.get("chunks"),
         "status": m.get("status"), "source": m.get("source", "")}
        for i, m in zip(manifest["ids"], manifest["metadatas"])
    ]
    return sorted(rows, key=lambda r: (r["date"] or "9999", r["doc_id"]))


def _listing(client, collection: str | None, where: str) -> list[dict]:
    """The rows ``collections`` prints: one collection's documents, or every collection."""
    try:
        if collection:
            names = {c if isinstance(c, str) else c.name for c in client.list_collections()} if client else set()
            if collection not in names or f"{collection}.docs" not in names:
                raise UserError(f"no collection {collection!r} in the index at {where}; list them: assistant collections")
            return _document_rows(client, collection)
        return _collection_rows(client) if client else []
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001  (the server went away, a damaged index: one line, whatever it was)
        raise UserError(f"cannot read the index at {where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


@app.command()
def collections(
    index: Path | None = IndexOpt,
    collection: str | None = typer.Option(
        None, "--collection", help="List this collection's documents (id, date, chunks, title) instead."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """List the collections in the index with their document and chunk counts."""
    from assistant.index import Index  # heavy (LangChain, Chroma): keeps --help instant

    settings = Settings.resolve(index=index, collection=collection)
    idx = Index(settings)
    if not settings.chroma_url and not (settings.index_dir / "chroma.sqlite3").exists():
        client = None  # no index yet: do not create one just to list it
    else:
        client = idx.client
    rows = _listing(client, collection, idx.where)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    typer.echo(f"index: {idx.where}")
    if collection:
        for r in rows:
            status = "" if r["status"] == "complete" else f"  [{r['status']}]"
            typer.echo(f"{r['doc_id']}\t{r['date'] or '-'}\t{r['chunks'] if r['chunks'] is not None else '-'} chunks"
                       f"\t{r['title']}{status}")
        return
    if not rows:
        typer.echo("no collections yet; run: assistant ingest PATH --collection NAME")
        return
    width = max(len("collection"), *(len(r["collection"]) for r in rows))
    typer.echo(f"{'collection':<{width}}  {'documents':>9}  {'chunks':>7}")
    for r in rows:
        note = f"  ({r['incomplete']} incomplete: run assistant ingest)" if r["incomplete"] else ""
        typer.echo(f"{r['collection']:<{width}}  {r['documents']:>9}  {r['chunks']:>7}{note}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; another than 127.0.0.1 needs "
                             "ASSISTANT_AUTH=user:password (or ASSISTANT_AUTH_FILE) or --insecure."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to serve on."),
    index: Path | None = IndexOpt,
    collection: str | None = CollectionOpt,
    insecure: bool = typer.Option(False, "--insecure", help="Allow a non-local --host without a password (warns)."),
    feedback: Path | None = typer.Option(None, "--feedback", help="Thumbs up/down log, JSONL "
                                            "(default: feedback.jsonl in the index folder)."),
    llm: str | None = LlmOpt,
) -> None:
    """Serve the chat page (Gradio) on this machine; no share link, no analytics."""
    from assistant.chat_page import serve as serve_chat_page  # Gradio only for this command

    serve_chat_page(index=index, collection=collection, host=host, port=port, insecure=insecure,
                    feedback_path=feedback, llm=llm)


@app.command()
def train(
    out: Path | None = typer.Option(None, "--out", help="Model file (default: assistant/data/answer_model.json)."),
    set_name: list[str] | None = typer.Option(None, "--set", help="Eval set(s) to learn from (default: telegram, frus1941)."),
) -> None:
    """Fit the answer scorer on the bank's train split, calibrate it on dev (never reads test)."""
    from assistant.train import SETS  # heavy (LangChain, Chroma): keeps --help instant
    from assistant.train import train as fit_model

    logger = logging.getLogger("assistant.train")  # its progress is this command's output
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    fit_model(out, tuple(set_name or SETS))


@app.command("eval")
def eval_set(
    set_name: str = typer.Option("telegram", "--set", help="A set name in evals/ (telegram, frus1941) or a set file."),
    split: str = typer.Option("all", "--split", help="Which items: train, dev, test or all (side by side); "
                              "the baseline comparison covers only this split."),
    baseline: Path | None = typer.Option(None, "--baseline", help="Baseline JSON (default: evals/baseline-<set>.json when present)."),
    out: Path | None = typer.Option(None, "--out", help="Write results.json, report.md and report.html into this folder."),
    update_baseline: bool = typer.Option(False, "--update-baseline", help="Rewrite the baseline with this run's "
                                         "results (every split: only with --split all)."),
    index: Path | None = typer.Option(None, "--index", help="Folder of the eval's own index (default: .index/eval-<set>)."),
    k: int | None = typer.Option(None, "-k", min=1, max=50, help="Passages retrieved (default: the Assistant's)."),
    llm: str | None = typer.Option(None, "--llm", help="LLM backend, as for `ask --llm` (default: $ASSISTANT_LLM or none)."),
) -> None:
    """Run a reference question set and compare it to its baseline (exit 1 on a regression)."""
    from assistant.evaluate import run_eval  # not imported by the other commands (every ask)

    code = run_eval(set_name, baseline=baseline, out=out, update_baseline=update_baseline, index=index, k=k,
                    llm=llm, split=split)
    if code:
        raise typer.Exit(code)


class _NativeStderr:
    """Native code's writes to file descriptor 2 held back until the command ends.

    Chroma's Rust core prints a panic report (several lines, with a backtrace when
    RUST_BACKTRACE is set) straight to fd 2 before Python sees the exception. For the
    commands that open an index, fd 2 goes to a temporary file while Python's own
    ``sys.stderr`` (notes, progress bars, errors) keeps the real one; at the end the held
    output is written out, unless the command ended in a damaged-index error, whose
    one line replaces it.
    """

    def __init__(self):
        self.keep = True
        self.saved = None

    def __enter__(self):
        import io
        import tempfile

        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            self.sink = tempfile.TemporaryFile()
            os.dup2(self.sink.fileno(), 2)
        except (OSError, ValueError, AttributeError):  # no real fd 2 (e.g. captured in-process)
            self.saved = None
            return self
        self.old = sys.stderr
        sys.stderr = io.TextIOWrapper(io.FileIO(self.saved, "w", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True, write_through=True)
        return self

    def __exit__(self, *exc_info):
        if self.saved is None:
            return False
        if getattr(sys.modules.get("assistant.chroma_store"), "DAMAGE_REPORTED", False):
            self.keep = False  # `ingest --rebuild` moved a damaged index aside and said so
        if not self.keep:
            # Chroma's threads may panic again as the process ends: fd 2 stays held back;
            # Python's own stderr (the error line) already goes to the real one.
            sys.stderr.flush()
            return False
        try:
            sys.stderr.flush()
        finally:
            sys.stderr = self.old
            os.dup2(self.saved, 2)
            os.close(self.saved)
            if self.keep:
                self.sink.seek(0)
                data = self.sink.read()
                if data:
                    os.write(2, data)
            self.sink.close()
        return False


_INDEX_COMMANDS = {"ask", "chat", "ingest", "collections"}


def main() -> None:
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)  # after -v/--verbose
    held = _NativeStderr() if command in _INDEX_COMMANDS else None
    if held is not None:
        held.__enter__()
    try:
        _run(held)
    finally:
        if held is not None:
            held.__exit__(None, None, None)


def _run(held) -> None:
    try:
        app()
    except UserError as exc:
        if isinstance(exc, DamagedIndex) and held is not None:
            held.keep = False  # Chroma's panic report: replaced by this one line
        _err(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException as exc:  # Chroma's Rust panics are BaseExceptions
        if isinstance(exc, SystemExit):
            raise
        from assistant.index import failure_error  # ~0.5 s: only when something failed

        error = failure_error(exc)
        if error is None:
            raise
        if held is not None:
            held.keep = False  # the panic report: replaced by the one line below
        _err(str(error))
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
