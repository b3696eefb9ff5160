"""Reference question sets (``evals/*.yaml``): loading and validation.

A set names its documents (``corpus:``, a folder relative to the set file) and holds items:
a question, the reference answer, the evidence (verbatim substrings of a document, each
located at every place it occurs), key-term groups and a type. A conversation is an item with
``turns``; each turn is scored as its own item, asked with the earlier turns as history.
The schema is documented in ``evals/README.md``.

Every mistake in a set file is a ``UserError`` naming the file and line (and the item), so a
broken set is fixed from one line of output.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assistant.config import PROJECT_ROOT
from assistant.errors import UserError
from assistant.loaders import load_documents

TYPES = ("who", "when", "where", "what", "which", "why", "how", "yesno", "list", "count", "summary",
         "unanswerable", "follow-up")
VARIANTS = ("paraphrase", "lowercase", "misspelled")
# Who asks, for coverage reports only (the answerer never sees it).
VOICES = ("student", "teacher", "terse", "misspelled", "lowercase", "casual", "according-to", "role", "formal")
SPLITS = ("train", "dev", "test")
SPLIT_BY = ("question", "document")
# Fixed hash buckets out of 100: [0, 60) train, [60, 80) dev, [80, 100) test. Never change them:
# the test split is only honest while nothing was ever chosen by looking at it.
_SPLIT_BOUNDS = ((60, "train"), (80, "dev"), (100, "test"))
SET_SUFFIXES = (".yaml", ".yml")  # a set file named by path may also be .json (JSON is YAML)
_ITEM_KEYS = {"id", "type", "question", "answer", "evidence", "alt_evidence", "key_terms",
              "doc_id", "variant_of", "variant", "turns", "note", "voice"}
_TURN_KEYS = _ITEM_KEYS - {"id", "turns", "variant_of", "variant"}
_SET_KEYS = {"name", "description", "corpus", "documents", "doc_id", "items", "tolerances", "targets", "split_by"}
_TARGET = re.compile(r"^\s*(>=|<=|==)\s*([0-9.]+)\s*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def evals_dir() -> Path:
    """``ASSISTANT_EVALS_DIR``, else ``evals/`` at the project root."""
    env = os.environ.get("ASSISTANT_EVALS_DIR")
    return Path(env) if env else PROJECT_ROOT / "evals"


@dataclass(frozen=True)
class Evidence:
    """A verbatim string of one document and every (start, end) where it occurs."""

    doc_id: str
    text: str
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class EvalItem:
    id: str  # "sender"; a conversation's turns are "conv-x#1", "conv-x#2", …
    question: str
    answer: str  # the reference answer
    type: str
    evidence: tuple[Evidence, ...] = ()  # all needed: citation recall counts each
    alt_evidence: tuple[Evidence, ...] = ()  # also supports the answer (precision, retrieval)
    key_terms: tuple[tuple[str, ...], ...] = ()  # every group must match; any alternative in a group
    conversation: str | None = None
    turn: int = 1
    variant_of: str | None = None
    variant: str | None = None
    line: int = 0
    voice: str | None = None
    doc_hint: str | None = None  # the item's doc_id (an unanswerable corpus question has no evidence)
    split: str = "train"  # fixed by hash at load time (see split_of)

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    @property
    def supporting(self) -> tuple[Evidence, ...]:
        return self.evidence + self.alt_evidence


@dataclass
class EvalSet:
    name: str
    path: Path
    description: str
    corpus: Path
    documents: list[str] | None  # doc_ids (file stems) to index; None = every file of the corpus
    dialogues: list[list[EvalItem]]  # a single question is a dialogue of one turn
    tolerances: dict[str, float] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)  # aggregate → ">= 0.95" (shown in reports)
    split_by: str = "question"  # "document" for a corpus: no document's questions straddle splits

    def split(self, name: str) -> EvalSet:
        """The same set with only the dialogues of one split (``all`` keeps everything)."""
        if name == "all":
            return self
        if name not in SPLITS:
            raise UserError(f"unknown split {name!r} (one of: {', '.join(SPLITS)}, all)")
        kept = [d for d in self.dialogues if d[0].split == name]
        return EvalSet(**{**self.__dict__, "dialogues": kept})

    @property
    def items(self) -> list[EvalItem]:
        return [item for dialogue in self.dialogues for item in dialogue]

    def document_paths(self) -> list[Path]:
        if self.documents is None:
            return [self.corpus]
        return [_document_file(self.corpus, doc_id, self.path) for doc_id in self.documents]


def split_of(key: str) -> str:
    """``train``/``dev``/``test`` from a fixed hash of ``key`` (a document id or a question's root id)."""
    bucket = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 100
    return next(name for bound, name in _SPLIT_BOUNDS if bucket < bound)


def _assign_splits(dialogues: list[list[EvalItem]], split_by: str) -> list[list[EvalItem]]:
    """Every turn of a dialogue, and every variant of a question, lands in one split.

    Dialogues are grouped: a variant with its original (``variant_of``, followed to the root),
    and, for a corpus (``split_by: document``), dialogues sharing a document (any evidence or
    ``doc_id`` of any turn), so no document straddles two splits even when one question cites
    several. A group's split is the hash of its smallest document id (corpus), else of its root
    question's id.
    """
    docs_of = [_dialogue_documents(d) for d in dialogues]
    split_of_dialogue: dict[int, str] = {}
    for group in _split_groups(dialogues, docs_of, split_by):
        name = split_of(_group_key(group, dialogues, docs_of, split_by))
        split_of_dialogue.update(dict.fromkeys(group, name))
    return [[EvalItem(**{**item.__dict__, "split": split_of_dialogue[i]}) for item in dialogue]
            for i, dialogue in enumerate(dialogues)]


def _dialogue_documents(dialogue: list[EvalItem]) -> list[str]:
    """The documents a dialogue touches: its evidence and its turns' ``doc_id``, sorted."""
    return sorted({ev.doc_id for item in dialogue for ev in item.supporting}
                  | {item.doc_hint for item in dialogue if item.doc_hint})


class _UnionFind:
    """Disjoint sets over 0..n-1 (path halving; the smaller root wins a union)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        members: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            members.setdefault(self.find(i), []).append(i)
        return list(members.values())


def _split_groups(dialogues: list[list[EvalItem]], docs_of: list[list[str]], split_by: str) -> list[list[int]]:
    """Indices of the dialogues that must share a split, group by group."""
    sets = _UnionFind(len(dialogues))
    owner = _dialogue_of_id(dialogues)
    first_with_doc: dict[str, int] = {}
    for i, dialogue in enumerate(dialogues):
        for item in dialogue:
            if item.variant_of in owner:
                sets.union(i, owner[item.variant_of])
        if split_by == "document":
            for doc in docs_of[i]:
                sets.union(i, first_with_doc.setdefault(doc, i))
    return sets.groups()


def _dialogue_of_id(dialogues: list[list[EvalItem]]) -> dict[str, int]:
    """Item id (and conversation id) → index of the dialogue holding it."""
    owner: dict[str, int] = {}
    for i, dialogue in enumerate(dialogues):
        for item in dialogue:
            owner[item.id] = i
            if item.conversation:
                owner[item.conversation] = i
    return owner


def _group_key(group: list[int], dialogues: list[list[EvalItem]], docs_of: list[list[str]], split_by: str) -> str:
    """What a group's split is hashed from: its smallest document (corpus), else its root question."""
    docs = sorted({doc for i in group for doc in docs_of[i]})
    if split_by == "document" and docs:
        return f"doc:{docs[0]}"
    ids = [dialogues[i][0].conversation or dialogues[i][0].id for i in group]
    originals = [dialogues[i][0].conversation or dialogues[i][0].id for i in group if not dialogues[i][0].variant_of]
    return f"q:{min(originals or ids)}"


# --- finding a set ------------------------------------------------------------------------


def known_sets(directory: Path | None = None) -> list[str]:
    directory = directory or evals_dir()
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.iterdir() if p.suffix in SET_SUFFIXES and p.is_file())


def resolve_set_path(name_or_file: str, directory: Path | None = None) -> Path:
    """A set file from a name (``telegram`` → ``evals/telegram.yaml``) or a path."""
    directory = directory or evals_dir()
    candidate = Path(name_or_file)
    if candidate.suffix in SET_SUFFIXES + (".json",) or os.sep in name_or_file or "/" in name_or_file:
        if not candidate.is_file():
            raise UserError(f"no such eval set file: {name_or_file}")
        return candidate
    for suffix in SET_SUFFIXES:
        path = directory / f"{name_or_file}{suffix}"
        if path.is_file():
            return path
    known = ", ".join(known_sets(directory)) or "(none)"
    raise UserError(f"unknown eval set {name_or_file!r}; known sets: {known}")


def target_met(target: str, value: float | None) -> bool | None:
    """Whether ``value`` meets a target such as ">= 0.95"; None when there is no value."""
    if value is None:
        return None
    match = _TARGET.match(target)
    if match is None:  # load_set accepts only well-formed targets
        raise ValueError(f"malformed target {target!r}")
    op, number = match.groups()
    bound = float(number)
    return value >= bound - 1e-9 if op == ">=" else value <= bound + 1e-9 if op == "<=" else abs(value - bound) < 1e-9


def corpus_env_var(set_name: str) -> str:
    return "ASSISTANT_EVAL_CORPUS_" + re.sub(r"[^A-Za-z0-9]", "_", set_name).upper()


# --- loading ------------------------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings remember the line they start on (as ``__line__``)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_set(name_or_file: str | Path, *, directory: Path | None = None, check_documents: bool = True) -> EvalSet:
    """Load, validate and (with ``check_documents``) locate every evidence string."""
    path = resolve_set_path(str(name_or_file), directory)
    raw = _read_set_file(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}:1: an eval set is a mapping with 'name', 'corpus' and 'items'")
    _check_keys(raw, _SET_KEYS, f"{path}:1")

    name = str(raw.get("name") or path.stem)
    corpus = _corpus_folder(raw, name, path)
    documents = raw.get("documents")
    if documents is not None and not (isinstance(documents, list) and all(isinstance(d, str) for d in documents)):
        raise UserError(f"{path}:1: 'documents' must be a list of document ids (file names without suffix)")
    tolerances = _parse_tolerances(raw, path)
    targets = _parse_targets(raw, path)
    split_by = str(raw.get("split_by") or "question")
    dialogues = _parse_dialogues(raw, path)
    if split_by not in SPLIT_BY:
        raise UserError(f"{path}:1: 'split_by' must be one of {', '.join(SPLIT_BY)} (got {split_by!r})")
    dialogues = _assign_splits(dialogues, split_by)

    evalset = EvalSet(name=name, path=path, description=str(raw.get("description") or ""),
                      corpus=corpus, documents=documents, dialogues=dialogues, tolerances=tolerances,
                      targets=targets, split_by=split_by)
    if check_documents:
        locate_evidence(evalset)
    return evalset


def _read_set_file(path: Path) -> object:
    """The parsed YAML of a set file; a syntax error names the line (and where its construct began)."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark is not mark:
            problem += f" ({context} started at line {context_mark.line + 1})"
        raise UserError(f"{where}: malformed eval set: {problem}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


def _corpus_folder(raw: dict, name: str, path: Path) -> Path:
    """The documents' folder: ``ASSISTANT_EVAL_CORPUS_<NAME>``, else ``corpus:`` relative to the set file."""
    env_corpus = os.environ.get(corpus_env_var(name))
    if env_corpus:
        return Path(env_corpus)  # relative to the current directory, like any path argument
    if raw.get("corpus"):
        return path.parent / str(raw["corpus"])  # relative to the set file
    raise UserError(f"{path}:1: missing 'corpus' (the folder of the documents, relative to the set file)")


def _parse_tolerances(raw: dict, path: Path) -> dict[str, float]:
    tolerances = raw.get("tolerances") or {}
    if not isinstance(tolerances, dict) or not all(isinstance(v, (int, float)) for k, v in tolerances.items() if k != "__line__"):
        raise UserError(f"{path}:1: 'tolerances' must map aggregate names to numbers")
    return {k: float(v) for k, v in tolerances.items() if k != "__line__"}


def _parse_targets(raw: dict, path: Path) -> dict[str, str]:
    targets = raw.get("targets") or {}
    if not isinstance(targets, dict) or not all(_TARGET.match(str(v)) for k, v in targets.items() if k != "__line__"):
        raise UserError(f"{path}:{targets.get('__line__', 1) if isinstance(targets, dict) else 1}: "
                        "'targets' maps aggregate names to '>= x', '<= x' or '== x'")
    return {k: str(v).strip() for k, v in targets.items() if k != "__line__"}


def _parse_dialogues(raw: dict, path: Path) -> list[list[EvalItem]]:
    """The set's items, one dialogue each (a single question is a dialogue of one turn)."""
    items_raw = raw.get("items")
    if not isinstance(items_raw, list) or not items_raw:
        raise UserError(f"{path}:1: 'items' must be a non-empty list")
    default_doc = raw.get("doc_id")
    seen: set[str] = set()
    dialogues = [_parse_entry(entry, path, default_doc, seen) for entry in items_raw]
    _check_variants(dialogues, path)
    return dialogues


def _check_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(k for k in mapping if k != "__line__" and k not in allowed)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _parse_entry(entry, path: Path, default_doc: str | None, seen: set[str]) -> list[EvalItem]:
    if not isinstance(entry, dict):
        raise UserError(f"{path}: each item is a mapping with 'id' and 'question' (got {entry!r:.60})")
    line: int = entry.get("__line__", 0)
    item_id = entry.get("id")
    if not isinstance(item_id, str) or not _ID.match(item_id):
        raise UserError(f"{path}:{line}: item without a valid 'id' (letters, digits, '.', '_', '-')")
    where = f"{path}:{line}: item {item_id!r}"
    if item_id in seen:
        raise UserError(f"{where}: duplicate id")
    seen.add(item_id)
    _check_keys(entry, _ITEM_KEYS, where)
    doc = entry.get("doc_id", default_doc)
    if entry.get("turns") is None:
        return [_parse_single(entry, where, doc, item_id, line)]
    return _parse_turns(entry, path, where, doc, item_id, line)


def _parse_single(entry: dict, where: str, doc: str | None, item_id: str, line: int) -> EvalItem:
    """A question on its own (possibly a variant of another item)."""
    item = _parse_question(entry, where, doc, item_id, line, default_type=None)
    variant = entry.get("variant")
    if (variant is None) != (entry.get("variant_of") is None):
        raise UserError(f"{where}: 'variant' and 'variant_of' go together")
    if variant is not None and variant not in VARIANTS:
        raise UserError(f"{where}: unknown variant {variant!r} (one of: {', '.join(VARIANTS)})")
    return EvalItem(**{**item.__dict__, "variant_of": entry.get("variant_of"), "variant": variant})


def _parse_turns(entry: dict, path: Path, where: str, doc: str | None, item_id: str, line: int) -> list[EvalItem]:
    """A conversation: its ``turns``, each an item ``<id>#<n>``."""
    turns = entry["turns"]
    if not isinstance(turns, list) or len(turns) < 2:
        raise UserError(f"{where}: 'turns' must list at least two questions")
    extra = sorted(k for k in entry if k not in {"id", "turns", "type", "doc_id", "note", "__line__"})
    if extra:
        raise UserError(f"{where}: a conversation holds its questions in 'turns' (unexpected {extra[0]!r})")
    out = []
    for n, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise UserError(f"{where}: turn {n} must be a mapping with 'question' and 'answer'")
        t_line: int = turn.get("__line__", line)
        t_where = f"{path}:{t_line}: item '{item_id}#{n}'"
        _check_keys(turn, _TURN_KEYS, t_where)
        # A first turn stands alone; later ones lean on it (type "follow-up" unless stated).
        default_type = None if n == 1 else "follow-up"
        item = _parse_question(turn, t_where, turn.get("doc_id", doc), f"{item_id}#{n}", t_line, default_type)
        out.append(EvalItem(**{**item.__dict__, "conversation": item_id, "turn": n}))
    return out


def _parse_question(entry: dict, where: str, doc: str | None, item_id: str, line: int,
                    default_type: str | None) -> EvalItem:
    question = entry.get("question")
    if not isinstance(question, str) or not question.strip():
        raise UserError(f"{where}: missing 'question'")
    answer = entry.get("answer")
    if not isinstance(answer, (str, int, float)) or not str(answer).strip():
        raise UserError(f"{where}: missing reference 'answer'")
    qtype = entry.get("type", default_type)
    if qtype not in TYPES:
        raise UserError(f"{where}: 'type' must be one of {', '.join(TYPES)} (got {qtype!r})")
    evidence = _parse_evidence(entry.get("evidence"), where, doc, "evidence")
    alt = _parse_evidence(entry.get("alt_evidence"), where, doc, "alt_evidence")
    key_terms = _parse_key_terms(entry.get("key_terms"), where)
    if qtype == "unanswerable":
        if evidence or alt or key_terms:
            raise UserError(f"{where}: an unanswerable item has no evidence or key terms")
    else:
        if not evidence:
            raise UserError(f"{where}: an answerable item needs 'evidence' (verbatim strings of the document)")
        if not key_terms:
            raise UserError(f"{where}: an answerable item needs 'key_terms' (groups of acceptable alternatives)")
    voice = entry.get("voice")
    if voice is not None and voice not in VOICES:
        raise UserError(f"{where}: unknown voice {voice!r} (one of: {', '.join(VOICES)})")
    return EvalItem(id=item_id, question=question.strip(), answer=str(answer).strip(), type=qtype,
                    evidence=evidence, alt_evidence=alt, key_terms=key_terms, line=line, voice=voice,
                    doc_hint=doc)


def _parse_evidence(value, where: str, doc: str | None, key: str) -> tuple[Evidence, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise UserError(f"{where}: '{key}' must be a list of strings (or of {{doc_id, text}})")
    out = []
    for ev in value:
        if isinstance(ev, str):
            doc_id, text = doc, ev
        elif isinstance(ev, dict) and isinstance(ev.get("text"), str):
            doc_id, text = ev.get("doc_id", doc), ev["text"]
        else:
            raise UserError(f"{where}: each '{key}' entry is a string or {{doc_id, text}} (got {ev!r:.60})")
        if not doc_id:
            raise UserError(f"{where}: {key} {text[:40]!r} names no document (set 'doc_id')")
        if not text.strip():
            raise UserError(f"{where}: empty {key} string")
        out.append(Evidence(doc_id=str(doc_id), text=text))
    return tuple(out)


def _parse_key_terms(value, where: str) -> tuple[tuple[str, ...], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise UserError(f"{where}: 'key_terms' must be a list of groups (lists of alternatives)")
    groups = []
    for group in value:
        alternatives = [group] if isinstance(group, str) else group
        if not isinstance(alternatives, list) or not alternatives or not all(
            isinstance(a, (str, int)) and str(a).strip() for a in alternatives
        ):
            raise UserError(f"{where}: each key-term group is a non-empty list of strings (got {group!r:.60})")
        groups.append(tuple(str(a).strip() for a in alternatives))
    return tuple(groups)


def _check_variants(dialogues: list[list[EvalItem]], path: Path) -> None:
    ids = {item.id for d in dialogues for item in d}
    for item in (i for d in dialogues for i in d):
        if item.variant_of is not None and item.variant_of not in ids:
            raise UserError(f"{path}:{item.line}: item {item.id!r}: variant_of {item.variant_of!r} is not an item id")


# --- documents and evidence -----------------------------------------------------------------------


def _document_file(corpus: Path, doc_id: str, set_path: Path) -> Path:
    for suffix in (".txt", ".md"):
        candidate = corpus / f"{doc_id}{suffix}"
        if candidate.is_file():
            return candidate
    raise UserError(f"{set_path}: document {doc_id!r} not found in corpus folder {corpus}")


def load_set_documents(evalset: EvalSet) -> dict:
    """The set's documents by doc_id (``assistant.documents.Document``)."""
    if not evalset.corpus.is_dir():
        raise UserError(
            f"{evalset.path}: corpus folder not found: {evalset.corpus} "
            f"(set 'corpus:' or {corpus_env_var(evalset.name)})"
        )
    return {doc.doc_id: doc for doc in load_documents(evalset.document_paths())}


def locate_evidence(evalset: EvalSet, documents: dict | None = None) -> dict:
    """Fill in every evidence span; an evidence string not in its document is an error naming the item."""
    documents = documents if documents is not None else load_set_documents(evalset)
    for dialogue in evalset.dialogues:
        for i, item in enumerate(dialogue):
            located = {}
            for key in ("evidence", "alt_evidence"):
                out = []
                for ev in getattr(item, key):
                    doc = documents.get(ev.doc_id)
                    where = f"{evalset.path}:{item.line}: item {item.id!r}"
                    if doc is None:
                        raise UserError(f"{where}: {key} names document {ev.doc_id!r}, which is not in the set's corpus")
                    spans = tuple(find_all(doc.text, ev.text))
                    if not spans:
                        raise UserError(f"{where}: {key} not found verbatim in {ev.doc_id}: {ev.text[:80]!r}")
                    out.append(Evidence(ev.doc_id, ev.text, spans))
                located[key] = tuple(out)
            dialogue[i] = EvalItem(**{**item.__dict__, **located})
    return documents


def find_all(text: str, needle: str) -> list[tuple[int, int]]:
    spans, at = [], text.find(needle)
    while at >= 0:
        spans.append((at, at + len(needle)))
        at = text.find(needle, at + 1)
    return spans
