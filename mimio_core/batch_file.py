"""Reading a batch of video requests from a CSV or JSONL file, all rows checked before any is used."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mimio_core.catalogue import MODELS, ModelSpec
from mimio_core.domain import ValidRequest, VideoRequest
from mimio_core.errors import BadInput
from mimio_core.validation import ValidationError, read_reference_file, validate_request

COLUMNS = ("prompt", "title", "model", "size", "seconds", "reference")


class BatchFileError(BadInput):
    """Rows that cannot be used, each as (line number, reason); nothing is submitted while any exist."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"line {line}: {reason}" for line, reason in problems))


def _unknown_fields(names: set[str]) -> str:
    return f"unknown column(s) {', '.join(sorted(names))}; use {', '.join(COLUMNS)}"


def _json_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    # split on "\n" only: str.splitlines would also split inside a value at U+2028 and similar
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON ({exc.msg})"
            continue
        except RecursionError:
            yield number, "not valid here: the JSON is nested too deeply"
            continue
        except ValueError as exc:  # a number of more than 4,300 digits (Python's int limit)
            yield number, f"not usable here: {exc}"
            continue
        if not isinstance(row, dict):
            yield number, "each line must be a JSON object"
        elif wrong := [name for name, value in row.items() if name in COLUMNS and not _is_text(name, value)]:
            yield number, f"{', '.join(wrong)} must be text (seconds may be a whole number)"
        else:
            yield number, row


def _is_text(name: str, value: object) -> bool:
    """A JSONL value that means what it says: text (or a whole number of seconds), never a list whose
    Python repr would be recorded as the prompt."""
    return value is None or isinstance(value, str) or (name == "seconds" and type(value) is int)


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    # strict: a quote left open runs to the end of the file and is an error, not one swallowed row
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        yield 1, f"the header cannot be read ({exc})"
        return
    if "prompt" not in header:
        yield 1, f"the header must name a 'prompt' column (columns: {', '.join(COLUMNS)})"
        return
    if unknown := set(header) - set(COLUMNS):
        yield 1, _unknown_fields(unknown)
        return
    if doubled := sorted({name for name in header if header.count(name) > 1}):
        yield 1, f"column(s) {', '.join(doubled)} appear more than once in the header"
        return
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a quote left open, a value over the size limit
            if "unexpected end of data" in str(exc):
                yield start, "a quote opened in this row is never closed (it runs to the end of the file)"
            else:
                yield start, f"cannot be read as CSV ({exc})"
            return
        yield reader.line_num, row


def _rows(text: str, suffix: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) pairs; a row that cannot be parsed comes back as the reason."""
    if suffix in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{"):
        return _json_rows(text)
    return _csv_rows(text)


def read_batch_file(
    path: Path,
    *,
    max_reference_bytes: int,
    models: Mapping[str, ModelSpec] = MODELS,
    project_id: str | None = None,
) -> list[ValidRequest]:
    """Every row validated, or `BatchFileError` listing each bad row by line number."""
    try:
        # newline="": a CR inside a quoted CSV value is kept as written (universal newlines made it LF);
        # lines are split on LF only below
        with path.open(encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchFileError([(0, f"cannot read {path}: {exc}")]) from None
    requests: list[ValidRequest] = []
    problems: list[tuple[int, str]] = []
    for number, row in _rows(text, path.suffix.lower()):
        if isinstance(row, str):
            problems.append((number, row))
            continue
        if None in row:  # csv.DictReader files values beyond the header under None
            problems.append((number, "more values than columns: put a value that contains a comma in quotes"))
            continue
        if unknown := set(row) - set(COLUMNS):
            problems.append((number, _unknown_fields(unknown)))
            continue
        try:
            requests.append(
                validate_request(
                    _request(row, path.parent, project_id, max_reference_bytes),
                    max_reference_bytes=max_reference_bytes,
                    models=models,
                )
            )
        except (ValidationError, OSError) as exc:
            problems.append((number, str(exc)))
    if not requests and not problems:
        problems.append((0, f"{path} has no rows"))
    if problems:
        raise BatchFileError(problems)
    return requests


def _request(
    row: dict[str, Any], base: Path, project_id: str | None, max_reference_bytes: int
) -> VideoRequest:
    def text(name: str) -> str | None:
        value = row.get(name)
        return None if value is None or str(value).strip() == "" else str(value).strip()

    reference = None
    if ref := text("reference"):
        reference = read_reference_file((base / ref).expanduser(), max_reference_bytes, label=ref)
    return VideoRequest(
        prompt=str(row.get("prompt") or ""),
        title=text("title") or "",
        model=text("model"),
        size=text("size"),
        seconds=text("seconds"),
        reference=reference,
        project_id=project_id,
    )
