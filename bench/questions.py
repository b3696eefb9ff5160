"""The questions the bench asks: the telegram eval set's, conversations in order."""

from __future__ import annotations

from measure import ROOT

EVAL_SET = ROOT / "evals" / "telegram.yaml"
# Used when evals/telegram.yaml is missing: questions a class asks about the telegram.
FALLBACK_QUESTIONS = [
    "Who sent this telegram?", "To whom was the telegram addressed?", "Who signed the telegram?",
    "What is the telegram number?", "What is the file number?", "What did the Judge require?",
    "Who was Gorin?", "What did the Department take up with Justice?",
    "Which American citizens were imprisoned in the Soviet Union?", "What did the Soviet Ambassador suggest?",
    "When did the Judge act?", "What did the Department expect in return?", "In what year was this sent?",
    "What crime was Gorin convicted of?", "What is the capital of Australia?",
]


def eval_questions() -> tuple[list[list[str]], str]:
    """Conversations (a single question is a conversation of one) and where they came from."""
    if EVAL_SET.exists():
        from assistant.evalsets import load_set

        evalset = load_set(EVAL_SET, check_documents=False)
        convs = [[item.question for item in dialogue if item.question] for dialogue in evalset.dialogues]
        convs = [conv for conv in convs if conv]
        if convs:
            return convs, f"{EVAL_SET.relative_to(ROOT)} ({sum(map(len, convs))} questions)"
    return [[q] for q in FALLBACK_QUESTIONS], f"the fixed list in bench/questions.py ({len(FALLBACK_QUESTIONS)} questions)"
