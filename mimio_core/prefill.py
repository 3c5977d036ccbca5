"""Form values from a link's query (`?prompt=...&model=...`), and the link that reproduces a video.

Invalid values fall back to defaults with a notice that says what was ignored, never an error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from mimio_core.catalogue import DEFAULT_MODEL, ModelSpec
from mimio_core.domain import TrackedVideo
from mimio_core.validation import MAX_PROMPT_CHARS, MAX_TITLE_CHARS, whole_seconds

QUERY_KEYS = ("prompt", "title", "model", "size", "seconds", "project")


@dataclass(frozen=True)
class FormDefaults:
    prompt: str
    title: str
    model: str
    size: str
    seconds: int
    project_id: str | None
    notices: tuple[str, ...]


def defaults_from_query(
    query: Mapping[str, str], models: Mapping[str, ModelSpec], project_ids: Collection[str]
) -> FormDefaults:
    """Pre-fill values for the creation forms; each unusable value is named in `notices`."""
    notices: list[str] = []
    model = DEFAULT_MODEL if DEFAULT_MODEL in models else next(iter(models))
    if (asked := query.get("model")) is not None:
        if asked in models:
            model = asked
        else:
            notices.append(f"Ignored model={asked!r} from the link: choose one of {', '.join(models)}.")
    spec = models[model]
    size, seconds = spec.default_size, spec.default_seconds
    if (asked := query.get("size")) is not None:
        if asked in spec.sizes:
            size = asked
        else:
            notices.append(f"Ignored size={asked!r} from the link: {model} makes {', '.join(spec.sizes)}.")
    if (asked := query.get("seconds")) is not None:
        if (whole := whole_seconds(asked)) is not None and whole in spec.seconds:
            seconds = whole
        else:
            allowed = ", ".join(str(s) for s in spec.seconds)
            notices.append(f"Ignored seconds={asked!r} from the link: {model} makes {allowed} seconds.")
    prompt = query.get("prompt", "")
    if len(prompt) > MAX_PROMPT_CHARS:
        notices.append(f"The prompt from the link was cut to {MAX_PROMPT_CHARS} characters.")
        prompt = prompt[:MAX_PROMPT_CHARS]
    title = query.get("title", "")[:MAX_TITLE_CHARS]
    project_id = query.get("project")
    if project_id is not None and project_id not in project_ids:
        notices.append("Ignored the project from the link: it is not one of your projects.")
        project_id = None
    return FormDefaults(prompt, title, model, size, seconds, project_id, tuple(notices))


def template_query(video: TrackedVideo) -> dict[str, str]:
    """The query that opens a creation form pre-filled like this video ("Use as template")."""
    query = {
        "prompt": video.prompt,
        "title": video.title,
        "model": video.model,
        "size": video.size,
        "seconds": str(video.seconds),
    }
    if video.project_id:
        query["project"] = video.project_id
    return query
