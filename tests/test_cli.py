"""The ``assistant`` command as a user runs it: a real subprocess each time."""

import json
import subprocess

import pytest

from conftest import CLI, ROOT, SEED_FILE


def run(args, cwd=ROOT, stdin=None, env=None):
    return subprocess.run(CLI + args, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300, env=env)


def assert_one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0]


def test_empty_and_too_long_questions(tmp_path):
    assert_one_line_error(run(["ask", "   ", "--index", str(tmp_path)]), "empty question")
    assert_one_line_error(run(["ask", "x" * 2001, "--index", str(tmp_path)]), "too long", "2001")
    assert not any(tmp_path.iterdir())  # nothing was created for a bad question


def test_bad_files_name_the_input(tmp_path):
    binary = tmp_path / "scan.txt"
    binary.write_bytes(b"\x89PNG\x00\x00")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Gorin est libéré".encode("latin-1"))
    ix = str(tmp_path / "ix")
    assert_one_line_error(run(["ingest", str(tmp_path / "missing.txt"), "--index", ix]), "missing.txt")
    assert_one_line_error(run(["ingest", str(binary), "--index", ix]), "binary", "scan.txt")
    assert_one_line_error(run(["ingest", str(latin), "--index", ix]), "UTF-8", "latin.txt")


def test_unreadable_index(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "chroma.sqlite3").write_bytes(b"garbage" * 1000)
    assert_one_line_error(run(["ask", "Who signed this telegram?", "--index", str(broken)]), str(broken))
    assert (broken / "chroma.sqlite3").read_bytes() == b"garbage" * 1000  # left as it was


@pytest.mark.slow
def test_ask_json_and_chat(telegram_index):
    proc = run(["ask", "What did the Judge require?", "--json", "--index", str(telegram_index)])
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["question"] == "What did the Judge require?" and d["abstained"] is False
    rel = str(SEED_FILE.relative_to(ROOT))
    assert d["citations"]
    for c in d["citations"]:
        assert c["source"] == rel  # relative to the current directory
        assert SEED_FILE.read_text(encoding="utf-8")[c["start"] : c["end"]] == c["quote"]

    chat = run(["chat", "--json", "--index", str(telegram_index)],
               stdin="Who signed this telegram?\n\nWhat was his title?\nWhat is the capital of Australia?\n")
    assert chat.returncode == 0, chat.stderr
    answers = [json.loads(line) for line in chat.stdout.splitlines()]
    assert len(answers) == 3
    assert "Welles" in answers[1]["resolved_question"]
    assert answers[2]["abstained"] is True


@pytest.mark.slow
def test_first_ask_ingests_seeds_with_a_notice(tmp_path):
    proc = run(["ask", "Who signed this telegram?", "--index", str(tmp_path / "new")])
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(notes) == 1 and notes[0].startswith("note: no index") and "seeds/" in notes[0]
    assert "Welles" in proc.stdout


# --- -v: what a teacher needs when "it said something odd" ---------------------------------


def _logged(stderr: str, logger: str, text: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"{logger}: " in line and text in line]


def test_verbose_ask_logs_retrieval_candidates_and_decision(telegram_index):
    question = "Who signed this telegram?"
    plain = run(["ask", question, "--index", str(telegram_index)])
    verbose = run(["-v", "ask", question, "--index", str(telegram_index)])
    assert plain.returncode == 0 and verbose.returncode == 0, verbose.stderr
    assert verbose.stdout == plain.stdout  # -v changes what is logged, not the answer
    assert "assistant." not in plain.stderr and "retrieved for" not in plain.stderr

    (retrieved,) = _logged(verbose.stderr, "assistant.retrieval", f"retrieved for {question!r}")
    assert retrieved.startswith("INFO")
    assert f"#1 {SEED_FILE.stem}@" in retrieved and ":signature:2480-2486 " in retrieved  # chunk id and rank
    assert "dense " in retrieved and "bm25 " in retrieved
    (candidates,) = _logged(verbose.stderr, "assistant.chain", f"candidates for {question!r} (who question)")
    assert f"field {SEED_FILE.stem}:2480-2486 'Welles'" in candidates  # the sentence/field and its span, scored
    assert _logged(verbose.stderr, "assistant.chain", "answered (confidence ")
    assert "DEBUG" not in verbose.stderr  # -v is INFO; -vv adds DEBUG


def test_abstention_logs_its_reason(telegram_index):
    verbose = run(["-vv", "ask", "What is the capital of Australia?", "--index", str(telegram_index)])
    assert verbose.returncode == 0, verbose.stderr
    assert "does not say" in verbose.stdout
    (reason,) = _logged(verbose.stderr, "assistant.chain", "abstained: ")
    assert "the documents use none of the question's words" in reason and "threshold " in reason
    assert _logged(verbose.stderr, "assistant.retrieval", "dense leg for 'What is the capital of Australia?'")
    assert _logged(verbose.stderr, "assistant.chain", "all ")  # every candidate with its features (DEBUG)
