"""What LiteLLM's proxy answers, verbatim, for tests of the OpenAI-compatible adapter behind it.

Seen live from LiteLLM 1.108.7 (`litellm --config`, one `openai/sora-2` model in front of the embedded
server's /v1, no database) unless a GitHub thread is named.
"""

from __future__ import annotations

# `GET /v1/videos?limit=1` with a working key: the list cannot resolve a provider without a model
# (BerriAI/litellm#22130), while create, status and content work
LIST_400 = {
    "error": {
        "message": "litellm.BadRequestError: LLM Provider NOT provided. Pass in the LLM provider you are "
        "trying to call. You passed model=\n Pass model as E.g. For 'Huggingface' inference endpoints pass "
        "in `completion(model='huggingface/starcoder',..)` Learn more: https://docs.litellm.ai/docs/providers",
        "type": "invalid_request_error",
        "param": None,
        "code": "400",
    }
}


def proxy_error(message: str, code: str = "400") -> dict[str, object]:
    """The body LiteLLM's proxy answers an error with, around the text of the exception it caught."""
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}


# `POST /v1/videos` with a size the upstream (the embedded server) refuses, 400, seen live
CREATE_400 = proxy_error(
    'litellm.BadRequestError: OpenAIException - {"error":{"message":"size \'999x999\' is not supported by '
    'sora-2; supported: 720x1280, 1280x720","type":"invalid_request_error","param":"size","code":'
    "\"invalid_value\"}}\n\nLiteLLM: model group 'sora-2' failed with the error above. No fallback was "
    "attempted."
)
# `GET /v1/videos/{id}` after the upstream job was deleted, 404, seen live
STATUS_404 = proxy_error(
    'litellm.BadRequestError: OpenAIException - {"error":{"message":"Video with id '
    '\'video_3888b842c1704d49ac1a4498dc23d315\' not found.","type":"invalid_request_error","param":'
    'null,"code":"video_not_found"}}\n\nLiteLLM: model group \'sora-2\' failed with the error above. No '
    "fallback was attempted.",
    code="404",
)
# exception texts LiteLLM puts in that body, quoted in GitHub threads: Vertex's answer as the repr of
# its bytes (BerriAI/litellm#9733), Anthropic's with UTF-8 escapes (BerriAI/litellm#18539), an
# OpenAI-compatible server's as JSON (BerriAI/litellm#13130), Vertex's Anthropic models' as JSON
# (OpenHands/software-agent-sdk#1630), and a text with no provider error inside (wandb/openui#209)
VERTEX_BYTES = (
    r"""litellm.BadRequestError: VertexAIException BadRequestError - b'{\n  "error": {\n    "code": 400,\n"""
    r"""    "message": "Unable to submit request because at least one contents field is required. Learn"""
    r""" more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini",\n"""
    r"""    "status": "INVALID_ARGUMENT"\n  }\n}\n'"""
)
ANTHROPIC_BYTES = (
    r"""litellm.BadRequestError: AnthropicException - b'{"error":{"message":"\xe8\xaf\xb7\xe6\xb1\x82\xe5"""
    r"""\x8f\x82\xe6\x95\xb0\xe4\xb8\x8d\xe5\x90\x88\xe6\xb3\x95\xef\xbc\x8c\xe8\xaf\xb7\xe6\xa3\x80\xe6"""
    r"""\x9f\xa5\xe5\x90\x8e\xe9\x87\x8d\xe8\xaf\x95","type":"invalid_request_error"},"type":"error"}\n'."""
    " Received Model Group=fc_opus_4_5\nAvailable Model Group Fallbacks=None LiteLLM Retried: 1 times, "
    "LiteLLM Max Retries: 2"
)
OPENAI_COMPATIBLE_404 = (
    'litellm.NotFoundError: NotFoundError: OpenAIException - {"error":{"code":404,"message":"File Not '
    'Found","type":"not_found_error"}}. Received Model Group=openai/Qwen3-8B-Q4\nAvailable Model Group '
    "Fallbacks=None"
)
VERTEX_ANTHROPIC = (
    'litellm.BadRequestError: Vertex_aiException BadRequestError - {"type":"error","error":{"type":'
    '"invalid_request_error","message":"output_config: Extra inputs are not permitted"},"request_id":'
    '"req_vrtx_011CWtdshdBSBCZPs8SuQqaL"}'
)
NOTHING_INSIDE = (
    "litellm.BadRequestError: VertexAIException BadRequestError - vertexai import failed please run `pip "
    'install -U google-cloud-aiplatform "anthropic[vertex]"`\nReceived Model Group=claude-3-5-sonnet\n'
    "Available Model Group Fallbacks=None"
)
# not LiteLLM: a Sora relay's whole answer, OpenAI's error escaped in its message
# (TheSmallHanCat/sora2api#59)
RELAY = {
    "error": {
        "message": 'API request failed: 400 - {\n  "error": {\n    "message": "Hmmm something didn\'t look '
        "right with your request. Please try again later or visit https://help.openai.com if this issue "
        'persists.",\n    "type": "invalid_request_error",\n    "param": null,\n    "code": '
        '"sentinel_block"\n  }\n}',
        "type": "server_error",
        "param": None,
        "code": None,
    }
}
