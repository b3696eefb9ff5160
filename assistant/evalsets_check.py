"""``python -m assistant.evalsets_check FILE.yaml``: load a set as the eval does and print its counts."""

from __future__ import annotations

import sys
from collections import Counter

from assistant.errors import UserError
from assistant.evalsets import load_set


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m assistant.evalsets_check FILE.yaml\n")
        return 2
    try:
        evalset = load_set(argv[0])
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    items = evalset.items
    follow = sum(1 for i in items if i.turn > 1)
    unans = sum(1 for i in items if not i.answerable)
    docs = {ev.doc_id for i in items for ev in i.supporting} | {i.doc_hint for i in items if i.doc_hint}
    sys.stdout.write(
        f"{evalset.path}: {len(items)} questions, {len(evalset.dialogues)} items, "
        f"{unans} unanswerable ({unans / len(items):.0%}), {follow} follow-up turns, {len(docs)} documents\n"
        f"types:  {dict(sorted(Counter(i.type for i in items).items()))}\n"
        f"voices: {dict(sorted(Counter(i.voice or 'plain' for i in items).items()))}\n"
        f"splits: {dict(sorted(Counter(i.split for i in items).items()))}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
