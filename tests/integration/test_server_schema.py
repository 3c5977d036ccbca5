"""A bounded schemathesis run of the embedded server's own OpenAPI schema, over real HTTP on loopback:
valid and invalid requests to every operation; no answer may be a 5xx, and each must be a status the
schema declares, with a body its schema describes.

Every job is held by a `never` outcome (an empty `prompt_contains` matches every prompt), so the run
renders nothing. Derandomized, with no example database: the same cases on every machine."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from mimio_core.local_server.faults import Faults, OutcomeRule
from mimio_core.local_server.runner import RunningServer, start_in_thread

EXAMPLES_PER_OPERATION = 25
CONFIG = schemathesis.Config.from_dict({"seed": 20240601})  # schemathesis's own draws, fixed too


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    held = Faults(outcomes=[OutcomeRule(prompt_contains="", outcome="never")])
    running = start_in_thread(tmp_path_factory.mktemp("schema-server"), faults=held)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api_schema(served: RunningServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json", config=CONFIG)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
)
def test_every_operation_keeps_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, response_schema_conformance])


def test_the_schema_declares_bodies_and_error_shapes(served: RunningServer) -> None:
    document = httpx.get(f"{served.url}/openapi.json").json()
    paths, ref = document["paths"], "#/components/schemas/"

    def error_schema(path: str, method: str, status: str) -> str:
        return paths[path][method]["responses"][status]["content"]["application/json"]["schema"]["$ref"]

    assert set(paths["/v1/videos"]["post"]["requestBody"]["content"]) == {
        "multipart/form-data",
        "application/json",
    }
    assert set(paths["/api/videos/create"]["post"]["requestBody"]["content"]) == {"multipart/form-data"}
    assert set(paths["/api/videos/create-batch"]["post"]["requestBody"]["content"]) == {"application/json"}
    assert error_schema("/v1/videos", "post", "415") == f"{ref}OpenAIErrorBody"
    assert error_schema("/v1/videos/{video_id}/content", "get", "409") == f"{ref}OpenAIErrorBody"
    assert error_schema("/api/videos/{video_id}/download", "get", "409") == f"{ref}ErrorDetail"
    assert error_schema("/api/videos/create-variations", "post", "422") == f"{ref}ErrorDetail"
    assert document["components"]["schemas"]["ErrorDetail"]["properties"]["detail"]["type"] == "string"
    assert "HTTPValidationError" not in str(document)  # FastAPI's list of errors is never answered
    assert not [path for path in paths if path.startswith("/_admin")]  # test tooling, not the API
