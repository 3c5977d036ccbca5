"""The pieces of the hosted-provider adapters that need no server: routing by model and by job id,
paced polls, where the key may go, and how fal's two error shapes read."""

from __future__ import annotations

from collections.abc import Collection
from typing import BinaryIO

import httpx
import pytest

from mimio_core.domain import CheckedReference, QueueShare
from mimio_core.providers.base import (
    Health,
    JobFailure,
    JobRequest,
    JobState,
    JobStatus,
    ProviderNotStarted,
    ProviderUnavailable,
    StartedJob,
    VideoProvider,
)
from mimio_core.providers.fal import FalProvider, fal_failure
from mimio_core.providers.hosted import HostAuth, PollPacer
from mimio_core.providers.router import ProviderRouter
from mimio_core.request_template import output_url


class Recording(VideoProvider):
    """A provider that records what it was asked and answers job ids of its own."""

    def __init__(self, name: str) -> None:
        self.name, self.label, self.base_url = name, name.title(), f"https://{name}.example"
        self.asked: list[tuple[str, object]] = []

    def create(self, request: JobRequest) -> str:
        self.asked.append(("create", request.model))
        return f"{request.prompt}-job"

    def create_variations(self, request: JobRequest, count: int) -> list[StartedJob]:
        return self.create_batch([request] * count)

    def create_batch(self, requests: list[JobRequest]) -> list[StartedJob]:
        self.asked.append(("batch", [r.prompt for r in requests]))
        return [StartedJob(job_id=f"{r.prompt}-job") for r in requests]

    def statuses(self, job_ids: Collection[str], *, fresh: bool = False) -> dict[str, JobStatus]:
        self.asked.append(("statuses", sorted(job_ids)))
        return {job: JobStatus(job, JobState.RUNNING, 10, "running") for job in job_ids}

    def download(self, job_id: str, out: BinaryIO) -> int:
        self.asked.append(("download", job_id))
        return 0

    def delete(self, job_id: str) -> None:
        self.asked.append(("delete", job_id))

    def health(self) -> Health:
        return Health.ANSWERING

    def close(self) -> None:
        pass


def request(prompt: str, model: str) -> JobRequest:
    return JobRequest(prompt=prompt, model=model, size="1280x720", seconds=4)


@pytest.fixture
def router() -> ProviderRouter:
    members = {"local": Recording("local"), "fal": Recording("fal")}
    return ProviderRouter(members, {"mimio-local": "local", "fal-veo-3.1": "fal"}, default="local")


def test_a_mixed_batch_is_split_by_provider_and_answered_in_order(router: ProviderRouter) -> None:
    started = router.create_batch(
        [
            request("a", "fal-veo-3.1"),
            request("b", "mimio-local"),
            request("c", "sora-2"),
            request("d", "fal-veo-3.1"),
        ]
    )
    assert [(s.job_id, s.error) for s in started] == [
        ("fal:a-job", None),
        ("local:b-job", None),
        (
            None,
            "No configured provider offers the model 'sora-2': configure the provider that serves it (see "
            "`python -m mimio_core models`), or make it again with another model.",
        ),
        ("fal:d-job", None),
    ]
    assert started[2].refused and not started[2].not_started
    assert router.members["fal"].asked == [("batch", ["a", "d"])]  # type: ignore[attr-defined]


def test_job_ids_name_their_provider_and_old_ids_belong_to_the_default(router: ProviderRouter) -> None:
    found = router.statuses(["fal:x", "local:y", "legacy-id", "odd:colon"])
    assert sorted(found) == ["fal:x", "legacy-id", "local:y", "odd:colon"]
    assert found["fal:x"].job_id == "fal:x"
    assert router.members["local"].asked == [("statuses", ["legacy-id", "odd:colon", "y"])]  # type: ignore[attr-defined]
    router.delete("fal:x")
    assert router.members["fal"].asked[-1] == ("delete", "x")  # type: ignore[attr-defined]


def test_a_job_at_a_provider_no_longer_configured_is_unknown_and_says_which(router: ProviderRouter) -> None:
    assert router.statuses(["replicate:p1"]) == {}  # never failed on sight: its timeout tells the user
    with pytest.raises(
        ProviderUnavailable, match=r"^Job replicate:p1 is at the replicate provider, which is not"
    ):
        router.download("replicate:p1", None)  # type: ignore[arg-type]


def test_each_provider_has_its_own_share_of_the_queue(router: ProviderRouter) -> None:
    assert router.queue_shares() == [
        QueueShare(frozenset({"fal-veo-3.1"})),
        QueueShare(frozenset({"fal-veo-3.1"}), exclude=True),  # the default: the rest, unserved ones too
    ]
    alone = ProviderRouter({"local": Recording("local")}, {"mimio-local": "local"}, default="local")
    assert alone.queue_shares() == [QueueShare()]


def test_the_pacer_polls_at_most_its_rate_longest_unpolled_first() -> None:
    now = [0.0]
    pacer = PollPacer(rate=2.0, clock=lambda: now[0])  # a burst of 4, then 2 a second
    jobs = [f"job-{n}" for n in range(10)]
    assert pacer.choose(jobs) == jobs[:4]
    assert pacer.choose(jobs) == []  # no budget left this instant
    now[0] = 1.0
    assert pacer.choose(jobs) == jobs[4:6]  # never polled before go first
    now[0] = 3.0
    assert pacer.choose(jobs) == jobs[6:10]
    now[0] = 4.0
    assert pacer.choose(jobs) == jobs[:2]  # then the ones polled longest ago
    polled = 4 + 2 + 4 + 2
    assert polled <= 4 + 2.0 * now[0]  # never more than the burst plus the rate


def test_the_key_goes_only_to_the_platforms_own_hosts() -> None:
    auth = HostAuth("Key secret", "https://queue.fal.run", "https://rest.alpha.fal.ai")
    for url, sent in [
        ("https://queue.fal.run/fal-ai/veo3.1", True),
        ("https://rest.alpha.fal.ai/storage/upload/initiate", True),
        ("https://v3.fal.media/files/out.mp4", False),
        ("https://evil.example/queue.fal.run", False),
    ]:
        (flowed,) = list(auth.auth_flow(httpx.Request("GET", url)))
        assert ("authorization" in flowed.headers) is sent, url


def test_fal_errors_read_plainly_in_both_shapes() -> None:
    policy = httpx.Response(
        422,
        json={
            "detail": [
                {
                    "loc": ["body", "prompt"],
                    "msg": "The content could not be processed.",
                    "type": "content_policy_violation",
                }
            ]
        },
    )
    assert fal_failure(policy) == JobFailure(
        "Refused by fal's content policy: The content could not be processed.", by_policy=True
    )
    model = httpx.Response(
        422,
        json={
            "detail": [{"loc": ["body", "image_url"], "msg": "Image too large", "type": "image_too_large"}]
        },
    )
    assert fal_failure(model) == JobFailure("fal could not make the video: Image too large (image_too_large)")
    infra = httpx.Response(504, json={"detail": "Request timed out", "error_type": "request_timeout"})
    assert fal_failure(infra) == JobFailure(
        "fal could not make the video: Request timed out (request_timeout)"
    )
    bare = httpx.Response(500, text="<html>oops</html>", headers={"x-fal-error-type": "internal_error"})
    assert fal_failure(bare) == JobFailure(
        "fal could not make the video: the video provider answered HTTP 500 (internal_error)"
    )


def test_a_video_url_is_found_where_the_template_says() -> None:
    assert output_url({"video": {"url": "https://cdn/v.mp4"}}, "video.url") == "https://cdn/v.mp4"
    assert output_url({"video": {"url": "https://cdn/v.mp4"}}, "video") == "https://cdn/v.mp4"
    assert output_url("https://replicate.delivery/x.mp4", "") == "https://replicate.delivery/x.mp4"
    assert output_url(["https://a/1.mp4", "https://a/2.mp4"], "") == "https://a/1.mp4"
    assert output_url({"video": None}, "video.url") is None
    assert output_url({"video": {"url": "file:///etc/passwd"}}, "video.url") is None


class Exploding(Recording):
    def create_batch(self, requests: list[JobRequest]) -> list[StartedJob]:
        raise RuntimeError("adapter bug")


def test_one_provider_failing_a_batch_keeps_the_jobs_the_others_started() -> None:
    members = {"local": Recording("local"), "fal": Exploding("fal")}
    router = ProviderRouter(members, {"mimio-local": "local", "fal-veo-3.1": "fal"}, default="local")
    started = router.create_batch([request("a", "fal-veo-3.1"), request("b", "mimio-local")])
    assert [(s.job_id, s.error, s.refused) for s in started] == [
        (None, "RuntimeError: adapter bug", False),
        ("local:b-job", None, True),  # started and billed: its id must not be lost
    ]


def test_unprefixed_job_ids_stay_with_the_provider_that_made_them() -> None:
    members = {"fal": Recording("fal"), "local": Recording("local")}
    router = ProviderRouter(members, {"fal-veo-3.1": "fal", "mimio-local": "local"}, "fal", legacy="local")
    router.delete("job-from-before")  # recorded when the embedded server was the only provider
    assert members["local"].asked == [("delete", "job-from-before")] and members["fal"].asked == []


def test_the_key_never_travels_over_plain_http_even_to_the_right_host() -> None:
    auth = HostAuth("Key secret", "https://queue.fal.run")
    (flowed,) = list(auth.auth_flow(httpx.Request("GET", "http://queue.fal.run/fal-ai/veo3.1")))
    assert "authorization" not in flowed.headers


class Uploading(FalProvider):
    def upload(self, reference: CheckedReference) -> str:
        raise ProviderUnavailable("fal.ai storage kept failing: 502")


def test_a_reference_that_cannot_be_uploaded_started_nothing() -> None:
    provider = Uploading("k", {})
    big = CheckedReference("big.png", b"x" * (300 * 1024), "image/png", "image")
    with pytest.raises(
        ProviderNotStarted, match=r"^The reference could not be uploaded to fal.ai: fal.ai storage"
    ):
        provider.reference_url(big)
    provider.close()


class Broken(Recording):
    def statuses(self, job_ids: Collection[str], *, fresh: bool = False) -> dict[str, JobStatus]:
        raise RuntimeError("adapter bug")


def test_one_provider_that_breaks_while_polling_leaves_the_others_known() -> None:
    members = {"local": Recording("local"), "fal": Broken("fal")}
    router = ProviderRouter(members, {"mimio-local": "local", "fal-veo-3.1": "fal"}, default="local")
    found = router.statuses(["fal:x", "local:y"])
    assert list(found) == ["local:y"]  # fal's job is unknown this time, never failed
