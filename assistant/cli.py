"""The ``assistant`` command: a thin layer on ``assistant.api``.

Heavy imports (torch, Chroma, LangChain, Gradio) happen inside the commands, so
``assistant --help`` is instant and ``ask`` never imports Gradio.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from assistant.errors import UserError

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


def _err(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


@app.command()
def ingest(
    paths: Optional[List[Path]] = typer.Argument(None, help="Files or folders (default: seeds/)."),
    index: Optional[Path] = IndexOpt,
    collection: Optional[str] = CollectionOpt,
    rebuild: bool = typer.Option(False, "--rebuild", help="Drop the collection and build it again."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Add documents to the index (idempotent: unchanged files add nothing)."""
    from assistant.config import Settings
    from assistant.index import Index, default_paths

    idx = Index(Settings.resolve(index=index, collection=collection))
    report = idx.ingest(list(paths) if paths else default_paths(), progress=not quiet, rebuild=rebuild)
    typer.echo(f"{idx.settings.collection}: {report.line()}")


def _print_answer(answer, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    style = "yellow" if answer.abstained else "bold"
    console.print(escape(answer.answer), style=style)
    if answer.notice:
        console.print(f"note: {escape(answer.notice)}", style="dim")
    listed = answer.citations or answer.related
    if listed:
        console.print("related passages:" if answer.abstained else "", style="dim", end="\n" if answer.abstained else "")
    from assistant.answer import display_source

    for c in listed:
        console.print(
            f"[{c.n}] {escape(display_source(c.source))}:{c.start}-{c.end}  “{escape(c.quote)}”",
            style="dim" if answer.abstained else "cyan",
        )


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as one JSON object."),
    index: Optional[Path] = IndexOpt,
    collection: Optional[str] = CollectionOpt,
    k: int = typer.Option(4, "-k", min=1, max=50, help="Passages retrieved."),
) -> None:
    """Answer one question from the indexed documents."""
    from assistant.api import Assistant
    from assistant.config import check_question

    check_question(question)  # before loading anything
    assistant = Assistant.open(index=index, collection=collection, k=k)
    _print_answer(assistant.ask(question), as_json)


@app.command()
def chat(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per answer."),
    index: Optional[Path] = IndexOpt,
    collection: Optional[str] = CollectionOpt,
    k: int = typer.Option(4, "-k", min=1, max=50, help="Passages retrieved."),
) -> None:
    """A conversation: one question per line on stdin; follow-ups use the history."""
    from assistant.api import Assistant

    assistant = Assistant.open(index=index, collection=collection, k=k)
    interactive = sys.stdin.isatty()
    history = []
    while True:
        if interactive:
            typer.echo("? ", nl=False)
        line = sys.stdin.readline()
        if not line:
            break
        question = line.strip()
        if not question:
            continue
        try:
            answer = assistant.ask(question, history)
        except UserError as exc:  # one bad line does not end the conversation
            _err(str(exc))
            continue
        history.append(answer)
        _print_answer(answer, as_json)
        sys.stdout.flush()


def main() -> None:
    try:
        app()
    except UserError as exc:
        _err(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
