"""Prompt-set loading: every format, and every kind of bad file named with its entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark import (
    DataDirError,
    PromptSetError,
    UnknownNameError,
    load_prompt_set,
    load_prompt_sets,
)
from benchmark.prompts import MAX_PROMPT_CHARS, category_axes, safe_name

REPO = Path(__file__).resolve().parents[2]


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_json_list_of_strings(tmp_path: Path) -> None:
    pset = load_prompt_set(_write(tmp_path, "plain.json", json.dumps(["a cat", " a dog "])))
    assert pset.name == "plain"
    assert [(p.id, p.text, p.category) for p in pset.prompts] == [
        ("0001", "a cat", None),
        ("0002", "a dog", None),
    ]


def test_json_objects_keep_ids_categories_and_extra_fields(tmp_path: Path) -> None:
    data = [
        {"id": "fox", "prompt": "a red fox", "category": "animals", "difficulty": "easy"},
        {"id": 7, "prompt": "seven stars"},
    ]
    pset = load_prompt_set(_write(tmp_path, "objs.json", json.dumps(data)))
    assert [(p.id, p.text, p.category) for p in pset.prompts] == [
        ("fox", "a red fox", "animals"),
        ("7", "seven stars", None),
    ]
    assert pset.prompts[0].extra == {"difficulty": "easy"}


def test_json_object_with_prompts_key(tmp_path: Path) -> None:
    text = json.dumps({"name": "x", "prompts": [{"prompt": "a boat"}, "a car"]})
    pset = load_prompt_set(_write(tmp_path, "wrapped.json", text))
    assert [p.text for p in pset.prompts] == ["a boat", "a car"]


def test_jsonl_mixed_lines(tmp_path: Path) -> None:
    text = '{"id": "a", "prompt": "one"}\n\n"two"\n{"prompt": "three", "category": "c"}\n'
    pset = load_prompt_set(_write(tmp_path, "lines.jsonl", text))
    assert [(p.id, p.text, p.category) for p in pset.prompts] == [
        ("a", "one", None),
        ("0002", "two", None),
        ("0003", "three", "c"),
    ]


def test_partiprompts_tsv(tmp_path: Path) -> None:
    text = (
        "Prompt\tCategory\tChallenge\tNote\n"
        "A bowl of soup\tFood\tBasic\t\nA tree\tOutdoor\tBasic\t\n"
    )
    pset = load_prompt_set(_write(tmp_path, "PartiPrompts.tsv", text))
    # Category and Challenge are both the report's categories (benchmark.prompts.category_axes).
    assert [(p.text, category_axes(p.category)) for p in pset.prompts] == [
        ("A bowl of soup", {"category": "Food", "challenge": "Basic"}),
        ("A tree", {"category": "Outdoor", "challenge": "Basic"}),
    ]
    assert pset.prompts[0].extra == {}


def test_drawbench_csv_with_quotes_and_commas(tmp_path: Path) -> None:
    text = 'Prompts,Category\n"A red colored car, parked",Colors\nA black apple,Colors\n'
    pset = load_prompt_set(_write(tmp_path, "drawbench.csv", text))
    assert [(p.text, p.category) for p in pset.prompts] == [
        ("A red colored car, parked", "Colors"),
        ("A black apple", "Colors"),
    ]


def test_txt_skips_blank_and_comment_lines(tmp_path: Path) -> None:
    pset = load_prompt_set(_write(tmp_path, "p.txt", "# my prompts\na cat\n\n  a dog  \n"))
    assert [(p.id, p.text) for p in pset.prompts] == [("0001", "a cat"), ("0002", "a dog")]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    pset = load_prompt_set(_write(tmp_path, "bom.txt", "\ufeffcafé au lait\n".encode()))
    assert pset.prompts[0].text == "café au lait"


def test_content_hash_identifies_the_version(tmp_path: Path) -> None:
    path = _write(tmp_path, "v.txt", "a cat\n")
    first = load_prompt_set(path)
    assert load_prompt_set(path).content_hash == first.content_hash
    path.write_text("a cat\na dog\n")
    assert load_prompt_set(path).content_hash != first.content_hash


@pytest.mark.parametrize(
    ("name", "content", "entry", "reason"),
    [
        ("bad.json", '["a cat", ', "line 1 column 11", "bad JSON"),
        ("bad.jsonl", '"ok"\n{nope}\n', "line 2", "bad JSON"),
        ("fields.json", '[{"text_prompt": "x"}]', "entry 0", "no 'prompt' field"),
        ("num.json", '["ok", 42]', "entry 1", "expected a string or an object"),
        ("shape.json", '{"items": []}', None, "'prompts' list"),
        ("empty.json", "[]", None, "no prompts"),
        ("empty.txt", "\n# nothing\n", None, "no prompts"),
        ("blank.json", '["a", "   "]', "entry 1", "empty prompt"),
        ("dups.json", '[{"id": "x", "prompt": "a"}, {"id": "x", "prompt": "b"}]', "entry 1",
         "duplicate id 'x'"),
        ("cols.csv", "Text2,Category\na,b\n", "line 1", "no prompt column"),
        ("ragged.csv", "Prompt,Category\na,b,c\n", "line 2", "more fields"),
        ("badid.json", '[{"id": [1], "prompt": "a"}]', "entry 0", "id must be"),
    ],
)  # fmt: skip
def test_bad_files_name_the_file_and_entry(
    tmp_path: Path, name: str, content: str, entry: str | None, reason: str
) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(PromptSetError) as caught:
        load_prompt_set(path)
    assert caught.value.path == path
    assert caught.value.entry == entry
    assert str(path) in str(caught.value)
    assert reason in str(caught.value)


def test_non_utf8_names_the_byte_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "latin1.txt", "a cat\nun caf\xe9\n".encode("latin-1"))
    with pytest.raises(PromptSetError, match=r"not UTF-8") as caught:
        load_prompt_set(path)
    assert caught.value.entry == "byte 12 (line 2)"


def test_huge_prompt_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "huge.json", json.dumps(["fine", "x" * (10 * 1024 * 1024)]))
    with pytest.raises(PromptSetError, match=f"over the {MAX_PROMPT_CHARS} limit") as caught:
        load_prompt_set(path)
    assert caught.value.entry == "entry 1"


def test_unsupported_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(PromptSetError, match="unsupported extension"):
        load_prompt_set(_write(tmp_path, "notes.md", "a cat"))
    with pytest.raises(PromptSetError, match="cannot read"):
        load_prompt_set(tmp_path / "missing.txt")


def test_folder_load_skips_bad_sets_and_keeps_the_rest(tmp_path: Path) -> None:
    _write(tmp_path, "good.txt", "a cat\n")
    _write(tmp_path, "bad.json", "{")
    _write(tmp_path, "good.csv", "Prompt\na dog\n")  # same set name as good.txt
    _write(tmp_path, "README.md", "not a prompt set")
    _write(tmp_path, ".hidden.txt", "ignored")
    _write(tmp_path, "other.jsonl", '"a bird"\n')
    sets, errors = load_prompt_sets(tmp_path)
    assert sorted(s.name for s in sets) == ["good", "other"]
    assert sorted(Path(e.path).name for e in errors) == ["bad.json", "good.txt"]
    assert "already used" in str(next(e for e in errors if e.path.name == "good.txt"))
    only, _ = load_prompt_sets(tmp_path, only=["other"])
    assert [s.name for s in only] == ["other"]


def test_shipped_prompt_set() -> None:
    pset = load_prompt_set(REPO / "research" / "data" / "benchmark_prompts_v2.json")
    assert len(pset.prompts) == 100
    categories = {p.category for p in pset.prompts}
    assert {"people", "animals", "text rendering", "counting", "spatial relations", "styles",
            "scenes"} <= categories  # fmt: skip
    assert len({p.text for p in pset.prompts}) == 100


def test_non_ascii_file_names_keep_readable_unique_safe_names(tmp_path: Path) -> None:
    _write(tmp_path, "猫.txt", "a cat\n")
    _write(tmp_path, "犬.txt", "a dog\n")
    _write(tmp_path, "café au lait.txt", "a cup\n")
    _write(tmp_path, "???.txt", "a question\n")
    _write(tmp_path, "!!!.txt", "an exclamation\n")
    sets, errors = load_prompt_sets(tmp_path)
    assert errors == []
    names = {s.path.name: s.name for s in sets}
    assert len(set(names.values())) == 5  # before: 猫 and 犬 were both "unnamed"
    assert names["猫.txt"].startswith("猫-")
    assert names["犬.txt"].startswith("犬-")
    assert names["café au lait.txt"].startswith("café_au_lait-")
    assert names["???.txt"].startswith("unnamed-")
    for name in names.values():
        assert "/" not in name
        assert "\0" not in name
        assert not name.startswith(".")
        assert len(name.encode()) < 100
        (tmp_path / "out" / name).mkdir(parents=True)  # a folder name the filesystem takes
    only, _ = load_prompt_sets(tmp_path, only=["猫"])
    assert [s.path.name for s in only] == ["猫.txt"]
    # ASCII names stay as they were, so earlier results keep their folders.
    assert safe_name("drawbench_v2") == "drawbench_v2"
    assert safe_name("my prompts") == "my_prompts"
    assert safe_name("猫") == safe_name("猫")  # stable


def test_unknown_set_names_and_a_missing_folder_raise(tmp_path: Path) -> None:
    _write(tmp_path, "good.txt", "a cat\n")
    with pytest.raises(UnknownNameError, match="typo") as caught:
        load_prompt_sets(tmp_path, only=["good", "typo"])
    assert "good" in str(caught.value)  # the sets that are there
    with pytest.raises(DataDirError, match="does not exist"):
        load_prompt_sets(tmp_path / "missing")
    with pytest.raises(DataDirError, match="not a folder"):
        load_prompt_sets(tmp_path / "good.txt")


def test_content_hashes_follow_the_text_not_the_position(tmp_path: Path) -> None:
    before = load_prompt_set(_write(tmp_path, "s.txt", "a cat\na dog\n"))
    after = load_prompt_set(_write(tmp_path, "s.txt", "a cow\na cat\na dog\na cat\n"))
    assert before.content_hash != after.content_hash  # the file changed
    old = {p.text: p.content_hash for p in before.prompts}
    cat, dog = old["a cat"], old["a dog"]
    hashes = [p.content_hash for p in after.prompts]
    assert hashes[1] == cat  # renumbered from 0001 to 0002, same result key
    assert hashes[2] == dog
    assert hashes[3] != cat  # a repeated text is a prompt of its own
    assert len(set(hashes)) == 4


def test_json_category_and_challenge_fields_become_axes(tmp_path: Path) -> None:
    text = (
        '[{"prompt": "a", "category": "Animals", "challenge": "Basic"},'
        ' {"prompt": "b", "category": "Food"}, {"prompt": "c"}]'
    )
    pset = load_prompt_set(_write(tmp_path, "axes.json", text))
    assert [category_axes(p.category) for p in pset.prompts] == [
        {"category": "Animals", "challenge": "Basic"},
        {"category": "Food"},
        {},
    ]
    # A plain category stays plain text: earlier results keep their categories.
    assert pset.prompts[1].category == "Food"
    assert category_axes("{not json") == {"category": "{not json"}
