"""Reading a batch of video requests from a CSV or JSONL file, all rows checked before any is used."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mimio_core.catalogue import MODELS, ModelSpec
from mimio_core.models import ReferenceUpload, ValidRequest, VideoRequest
from mimio_core.validation import ValidationError, validate_request

COLUMNS = ("prompt", "title", "model", "size", "seconds", "reference")


class BatchFileError(ValueError):
    """Rows that cannot be used, each as (line number, reason); nothing is submitted while any exist."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"line {line}: {reason}" for line, reason in problems))


def _unknown_fields(names: set[str]) -> str:
    return f"unknown column(s) {', '.join(sorted(names))}; use {', '.join(COLUMNS)}"


def _rows(text: str, suffix: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) pairs; a row that cannot be parsed comes back as the reason."""
    if suffix in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON ({exc.msg})"
                continue
            yield number, row if isinstance(row, dict) else "each line must be a JSON object"
        return
    reader = csv.DictReader(io.StringIO(text))
    unknown = set(reader.fieldnames or ()) - set(COLUMNS)
    if "prompt" not in (reader.fieldnames or ()):
        yield 1, f"the header must name a 'prompt' column (columns: {', '.join(COLUMNS)})"
        return
    if unknown:
        yield 1, _unknown_fields(unknown)
        return
    for row in reader:
        yield reader.line_num, row


def read_batch_file(
    path: Path,
    *,
    max_reference_bytes: int,
    models: Mapping[str, ModelSpec] = MODELS,
    project_id: str | None = None,
) -> list[ValidRequest]:
    """Every row validated, or `BatchFileError` listing each bad row by line number."""
    try:
        text = path.read_text(encoding="utf-8-sig")
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
                    _request(row, path.parent, project_id),
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


def _request(row: dict[str, Any], base: Path, project_id: str | None) -> VideoRequest:
    def text(name: str) -> str | None:
        value = row.get(name)
        return None if value is None or str(value).strip() == "" else str(value).strip()

    reference = None
    if ref := text("reference"):
        ref_path = (base / ref).expanduser()
        try:
            reference = ReferenceUpload(ref_path.name, ref_path.read_bytes())
        except OSError as exc:
            raise OSError(f"reference file {ref!r} cannot be read: {exc.strerror}") from None
    return VideoRequest(
        prompt=str(row.get("prompt") or ""),
        title=text("title") or "",
        model=text("model"),
        size=text("size"),
        seconds=text("seconds"),
        reference=reference,
        project_id=project_id,
    )
