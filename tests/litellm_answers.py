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
