"""Tests for reading batch files (CSV and JSONL): every row checked, bad rows named by line number."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mimio_core.batch_file import BatchFileError, read_batch_file
from mimio_core.catalogue import MODELS
from mimio_core.domain import CheckedReference, ValidRequest

LIMIT = 10 * 1024 * 1024
HEADER_HINT = "prompt, title, model, size, seconds, reference"


def png_bytes() -> bytes:
    pixels = np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "PNG")
    return out.getvalue()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, **kwargs) -> list[tuple[int, str]]:
    with pytest.raises(BatchFileError) as caught:
        read_batch_file(path, max_reference_bytes=LIMIT, **kwargs)
    return caught.value.problems


def expected(prompt: str, **changes) -> ValidRequest:
    values = {
        "prompt": prompt,
        "title": prompt,
        "model": "sora-2",
        "size": "720x1280",
        "seconds": 8,
        "reference": None,
        "project_id": None,
    }
    values.update(changes)
    return ValidRequest(**values)


# --- happy paths ---------------------------------------------------------------------------------


def test_csv_rows_become_requests_in_order_with_a_relative_reference(tmp_path):
    image = png_bytes()
    (tmp_path / "jobs" / "refs").mkdir(parents=True)
    (tmp_path / "jobs" / "refs" / "cat.png").write_bytes(image)
    path = write(
        tmp_path / "jobs" / "batch.csv",
        "prompt,title,model,size,seconds,reference\n"
        "A fox in snow,,,,,\n"
        '"A cat, asleep",Sleepy cat,sora-2-pro,1792x1024,12,refs/cat.png\n'
        "A dog,,sora-2,1280x720,4,\n",
    )
    requests = read_batch_file(path, max_reference_bytes=LIMIT, project_id="proj-1")
    assert requests == [
        expected("A fox in snow", project_id="proj-1"),
        expected(
            "A cat, asleep",
            title="Sleepy cat",
            model="sora-2-pro",
            size="1792x1024",
            seconds=12,
            reference=CheckedReference(name="cat.png", data=image, mime="image/png", kind="image"),
            project_id="proj-1",
        ),
        expected("A dog", size="1280x720", seconds=4, project_id="proj-1"),
    ]


def test_csv_may_omit_optional_columns_and_start_with_a_bom(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes("\ufeffprompt\nOnly a prompt\n".encode())
    assert read_batch_file(path, max_reference_bytes=LIMIT) == [expected("Only a prompt")]


def test_jsonl_rows_become_requests_with_a_relative_reference(tmp_path):
    image = png_bytes()
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "x.bin").write_bytes(image)
    path = write(
        tmp_path / "batch.jsonl",
        json.dumps({"prompt": "A fox", "seconds": 12}) + "\n"
        "\n"
        + json.dumps(
            {"prompt": "A ref", "title": "With ref", "reference": "refs/x.bin", "model": "mimio-local"}
        )
        + "\n",
    )
    assert read_batch_file(path, max_reference_bytes=LIMIT) == [
        expected("A fox", seconds=12),
        expected(
            "A ref",
            title="With ref",
            model="mimio-local",
            reference=CheckedReference(name="x.bin", data=image, mime="image/png", kind="image"),
        ),
    ]


def test_content_starting_with_a_brace_is_read_as_jsonl_whatever_the_suffix(tmp_path):
    path = write(tmp_path / "batch.txt", '{"prompt": "A fox"}\n{"prompt": "A cat"}\n')
    assert [r.prompt for r in read_batch_file(path, max_reference_bytes=LIMIT)] == ["A fox", "A cat"]


def test_absolute_reference_path_is_used_as_is(tmp_path):
    image = png_bytes()
    ref = tmp_path / "elsewhere" / "a.png"
    ref.parent.mkdir()
    ref.write_bytes(image)
    path = write(tmp_path / "jobs" / "b.jsonl", json.dumps({"prompt": "p", "reference": str(ref)}) + "\n")
    [request] = read_batch_file(path, max_reference_bytes=LIMIT)
    assert request.reference is not None and request.reference.data == image


# --- bad rows ------------------------------------------------------------------------------------


def test_every_bad_csv_row_is_listed_by_its_line_number(tmp_path):
    path = write(
        tmp_path / "b.csv",
        "prompt,model,seconds\n"  # line 1
        "A fox,sora-2,8\n"  # line 2: fine
        ",sora-2,8\n"  # line 3: blank prompt
        "A cat,veo,8\n"  # line 4: unknown model
        "\n"  # line 5: blank line, skipped
        "A dog,sora-2,5\n"  # line 6: bad seconds
        '"A prompt over\ntwo lines",sora-2,8\n'  # lines 7-8: fine
        ",,abc\n",  # line 9: two problems
    )
    found = problems(path)
    assert found == [
        (3, "Prompt is empty: describe the video you want."),
        (4, f"Unknown model 'veo'; choose one of {', '.join(MODELS)}."),
        (6, "sora-2 makes videos of 4, 8, 12 seconds, not 5."),
        (
            9,
            "Prompt is empty: describe the video you want.; "
            "Duration must be a whole number of seconds, got 'abc'.",
        ),
    ]


def test_error_message_lists_lines(tmp_path):
    path = write(tmp_path / "b.csv", "prompt,seconds\n,\nx,7\n")
    with pytest.raises(BatchFileError) as caught:
        read_batch_file(path, max_reference_bytes=LIMIT)
    assert str(caught.value) == (
        "line 2: Prompt is empty: describe the video you want.\n"
        "line 3: sora-2 makes videos of 4, 8, 12 seconds, not 7."
    )


def test_the_providers_models_apply_to_every_row(tmp_path):
    path = write(tmp_path / "b.csv", "prompt,model\na,sora-2\nb,sora-2-pro\n")
    assert problems(path, models={"sora-2": MODELS["sora-2"]}) == [
        (3, "Unknown model 'sora-2-pro'; choose one of sora-2.")
    ]


def test_csv_without_prompt_column_is_refused_at_line_one(tmp_path):
    path = write(tmp_path / "b.csv", "title,model\nA,sora-2\n")
    assert problems(path) == [(1, f"the header must name a 'prompt' column (columns: {HEADER_HINT})")]


def test_csv_with_unknown_column_is_refused_at_line_one(tmp_path):
    path = write(tmp_path / "b.csv", "prompt,duration,colour\nA,8,red\n")
    assert problems(path) == [(1, f"unknown column(s) colour, duration; use {HEADER_HINT}")]


def test_csv_row_with_more_values_than_columns_is_refused(tmp_path):
    path = write(tmp_path / "b.csv", "prompt\nA cat, asleep on a sofa\n")
    assert problems(path) == [(2, "more values than columns: put a value that contains a comma in quotes")]


def test_invalid_json_lines_are_listed_by_line_number(tmp_path):
    path = write(
        tmp_path / "b.jsonl",
        '{"prompt": "fine"}\n'  # 1
        '{"prompt": "x",\n'  # 2
        "\n"  # 3 blank, skipped
        '["prompt", "x"]\n'  # 4
        "prompt: x\n"  # 5
        '{"prompt": ""}\n',  # 6
    )
    assert problems(path) == [
        (2, "not valid JSON (Expecting property name enclosed in double quotes)"),
        (4, "each line must be a JSON object"),
        (5, "not valid JSON (Expecting value)"),
        (6, "Prompt is empty: describe the video you want."),
    ]


def test_jsonl_unknown_key_is_refused(tmp_path):
    path = write(tmp_path / "b.jsonl", json.dumps({"prompt": "A fox", "duration": 12}) + "\n")
    assert problems(path) == [(1, f"unknown column(s) duration; use {HEADER_HINT}")]


def test_missing_reference_file_is_a_row_problem(tmp_path):
    path = write(
        tmp_path / "b.csv",
        "prompt,reference\nA fox,missing.png\nA cat,\n",
    )
    assert problems(path) == [(2, "Reference file 'missing.png' cannot be read: No such file or directory.")]


def test_reference_that_is_a_directory_is_a_row_problem(tmp_path):
    (tmp_path / "refs").mkdir()
    path = write(tmp_path / "b.jsonl", json.dumps({"prompt": "x", "reference": "refs"}) + "\n")
    assert problems(path) == [(1, "Reference file 'refs' is not a regular file.")]


def test_bad_reference_bytes_are_a_row_problem(tmp_path):
    write(tmp_path / "evil.png", "#!/bin/sh\necho hi\n")
    path = write(tmp_path / "b.csv", "prompt,reference\nA fox,evil.png\n")
    [(line, reason)] = problems(path)
    assert line == 2
    assert reason.startswith("Reference file 'evil.png' is POSIX shell script")
    assert reason.endswith("(text/x-shellscript), not a PNG, JPEG or WebP image.")


# --- empty and unreadable files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"), [("b.jsonl", ""), ("b.jsonl", "\n  \n"), ("b.csv", "prompt,title\n")]
)
def test_file_without_rows_is_refused(tmp_path, name, text):
    path = write(tmp_path / name, text)
    assert problems(path) == [(0, f"{path} has no rows")]


def test_empty_csv_has_no_header(tmp_path):
    path = write(tmp_path / "b.csv", "")
    assert problems(path) == [(1, f"the header must name a 'prompt' column (columns: {HEADER_HINT})")]


def test_missing_file_is_refused(tmp_path):
    path = tmp_path / "nope.csv"
    assert problems(path) == [(0, f"cannot read {path}: [Errno 2] No such file or directory: '{path}'")]


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"prompt\n\xff\xfe caf\xe9\n")
    [(line, reason)] = problems(path)
    assert line == 0
    assert reason.startswith(f"cannot read {path}: 'utf-8' codec can't decode byte 0xff")


# --- bad files found by trying them: each a line-numbered problem, nothing recorded -----------------


def test_a_field_over_the_csv_size_limit_is_a_row_problem(tmp_path):
    path = write(tmp_path / "b.csv", "prompt\na fox\n" + "x" * 200_000 + "\n")
    assert problems(path) == [(3, "cannot be read as CSV (field larger than field limit (131072))")]


def test_an_unclosed_quote_is_named_instead_of_swallowing_the_rest(tmp_path):
    path = write(tmp_path / "b.csv", 'prompt,title\na fox,Fox\n"a cat,Cat\na dog,Dog\na cow,Cow\n')
    assert problems(path) == [
        (3, "a quote opened in this row is never closed (it runs to the end of the file)")
    ]


def test_a_duplicate_header_column_is_refused(tmp_path):
    path = write(tmp_path / "b.csv", "prompt,title,title\na fox,One,Two\n")
    assert problems(path) == [(1, "column(s) title appear more than once in the header")]


def test_deeply_nested_jsonl_is_a_row_problem(tmp_path):
    path = write(tmp_path / "b.jsonl", '{"prompt": "a fox"}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    assert problems(path) == [(2, "not valid here: the JSON is nested too deeply")]


@pytest.mark.parametrize("value", [["a", "fox"], {"text": "a fox"}, 4.5, True])
def test_jsonl_values_that_are_not_text_are_refused(tmp_path, value):
    path = write(tmp_path / "b.jsonl", json.dumps({"prompt": value, "title": "t"}) + "\n")
    assert problems(path) == [(1, "prompt must be text (seconds may be a whole number)")]


def test_a_line_separator_inside_a_jsonl_value_does_not_split_the_line(tmp_path):
    path = write(
        tmp_path / "b.jsonl",
        json.dumps({"prompt": "first\u2028part"}, ensure_ascii=False) + "\n" + '{"prompt": " "}\n',
    )
    assert problems(path) == [(2, "Prompt is empty: describe the video you want.")]


def test_a_reference_that_is_a_fifo_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    path = write(tmp_path / "b.csv", "prompt,reference\na fox,pipe.png\n")
    assert problems(path) == [(2, "Reference file 'pipe.png' is not a regular file.")]


def test_an_oversized_reference_is_refused_by_its_size_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    with big.open("wb") as file:
        file.truncate(LIMIT + 1)  # sparse: its size, without the bytes
    opened, original = [], Path.open

    def recording(self, *args, **kwargs):
        opened.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", recording)
    path = write(tmp_path / "b.csv", "prompt,reference\na fox,big.png\n")
    assert problems(path) == [(2, "Reference file 'big.png' is 10.0 MB; the limit is 10 MB.")]
    assert "big.png" not in opened
