"""Tests for the status state machine, provider status words, and the retry decisions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mimio_core.domain import FailureKind, VideoStatus
from mimio_core.providers.base import JobState, job_state
from mimio_core.providers.retry import (
    RetryPolicy,
    is_transient_error,
    is_transient_response,
    retry_after_seconds,
)
from mimio_core.status import TRANSITIONS, InvalidTransition, require_transition

S = VideoStatus
Q, CL, CR, G, T = S.QUEUED, S.CLAIMED, S.CREATING, S.GENERATING, S.TRANSFERRING
C, F, X = S.COMPLETED, S.FAILED, S.CANCELLED
ALLOWED = {
    (Q, CL), (Q, X),
    (CL, CR), (CL, F), (CL, X),
    (CR, G), (CR, CL), (CR, F), (CR, X),
    (G, T), (G, F), (G, X),
    (T, C), (T, F), (T, X),
    (F, Q), (F, G),
    (X, Q),
}  # fmt: skip
ALL_PAIRS = [(a, b) for a in VideoStatus for b in VideoStatus]


# --- state machine -------------------------------------------------------------------------------


def test_transition_table_is_exactly_the_documented_one():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert set(TRANSITIONS) == set(VideoStatus)


def test_transition_table_cannot_be_changed():
    with pytest.raises(TypeError):
        TRANSITIONS[C] = frozenset({Q})  # type: ignore[index]


@pytest.mark.parametrize(("current", "new"), sorted(ALLOWED))
def test_allowed_transitions_pass(current, new):
    assert require_transition(current, new) is None


@pytest.mark.parametrize(("current", "new"), [pair for pair in ALL_PAIRS if pair not in ALLOWED])
def test_forbidden_transitions_raise_naming_both_statuses(current, new):
    with pytest.raises(InvalidTransition) as caught:
        require_transition(current, new)
    assert str(caught.value) == f"a video cannot go from {current.value} to {new.value}"


def test_completed_to_queued_message():
    with pytest.raises(InvalidTransition, match=r"^a video cannot go from completed to queued$"):
        require_transition(C, Q)


def test_final_and_active_states():
    assert [s for s in VideoStatus if s.is_final] == [C, F, X]
    assert [s for s in VideoStatus if s.is_active] == [CL, CR, G, T]


def test_every_state_is_reachable_from_queued_and_every_unfinished_one_can_end():
    reached, frontier = {Q}, [Q]
    while frontier:
        for target in TRANSITIONS[frontier.pop()] - reached:
            reached.add(target)
            frontier.append(target)
    assert reached == set(VideoStatus)
    assert all(TRANSITIONS[state] & {F, X} for state in VideoStatus if not state.is_final)


def test_only_failures_that_keep_the_job_make_retry_fetch_it():
    assert {kind for kind in FailureKind if kind.keeps_job} == {
        FailureKind.TIMED_OUT,
        FailureKind.TRANSFER_FAILED,
        FailureKind.STORAGE_REFUSED,
        FailureKind.INTERNAL,
    }


# --- provider status words -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("completed", JobState.COMPLETED),
        (" Completed\n", JobState.COMPLETED),
        ("failed", JobState.FAILED),
        ("FAILED", JobState.FAILED),
        ("error", JobState.FAILED),
        ("queued", JobState.RUNNING),
        ("in_progress", JobState.RUNNING),
        ("IN_PROGRESS", JobState.RUNNING),
        ("weird", JobState.RUNNING),
        ("", JobState.RUNNING),
        ("complete", JobState.RUNNING),
    ],
)
def test_job_state(word, state):
    assert job_state(word) is state


# --- backoff -------------------------------------------------------------------------------------


def test_delay_grows_exponentially_within_jitter_bounds():
    policy = RetryPolicy(attempts=8, base_delay=0.5, max_delay=1000.0, jitter=0.25)
    rng = random.Random(1234)
    for attempt in range(8):
        backoff = 0.5 * 2**attempt
        for _ in range(50):
            delay = policy.delay(attempt, rng=rng)
            assert backoff * 0.75 <= delay <= backoff * 1.25, (attempt, delay)


def test_delay_is_reproducible_with_a_seeded_rng():
    policy = RetryPolicy()
    first = [policy.delay(a, rng=random.Random(42)) for a in range(5)]
    second = [policy.delay(a, rng=random.Random(42)) for a in range(5)]
    assert first == second
    expected = [0.5 * 2**a * (1 + random.Random(42).uniform(-0.25, 0.25)) for a in range(5)]
    assert first == pytest.approx(expected)


def test_delay_without_jitter_is_exact_and_capped():
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, jitter=0.0)
    assert [policy.delay(a, rng=random.Random(0)) for a in range(8)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        30.0,
        30.0,
    ]


def test_delay_for_late_attempts_stays_around_max_delay():
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, jitter=0.25)
    rng = random.Random(5)
    delays = [policy.delay(20, rng=rng) for _ in range(200)]
    assert all(22.5 <= d <= 37.5 for d in delays)


def test_delay_never_exceeds_max_delay():
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, jitter=0.25)
    rng = random.Random(5)
    assert max(policy.delay(20, rng=rng) for _ in range(200)) <= 30.0


@pytest.mark.parametrize(("retry_after", "expected"), [(7.0, 7.0), (0.0, 0.0), (-3.0, 0.0), (120.0, 30.0)])
def test_retry_after_is_honoured_without_jitter_and_capped(retry_after, expected):
    policy = RetryPolicy(max_delay=30.0, jitter=0.25)
    assert policy.delay(0, retry_after, rng=random.Random(1)) == expected
    assert policy.delay(4, retry_after, rng=random.Random(2)) == expected


def test_should_retry_counts_attempts():
    policy = RetryPolicy(attempts=3)
    assert [policy.should_retry(a) for a in range(4)] == [True, True, False, False]
    assert RetryPolicy(attempts=1).should_retry(0) is False


# --- Retry-After header --------------------------------------------------------------------------

NOW = datetime(2015, 10, 21, 7, 27, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("1.5", 1.5),
        (" 4 ", 4.0),
        ("-2", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("12 abc", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds(value, expected):
    assert retry_after_seconds(value, now=NOW) == expected


def test_retry_after_http_date_uses_the_current_time_by_default():
    when = datetime.now(UTC) + timedelta(seconds=120)
    header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 115.0 <= retry_after_seconds(header) <= 120.0


# --- what counts as transient --------------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses(code):
    assert is_transient_response(code) is True


@pytest.mark.parametrize("code", [200, 201, 301, 400, 401, 403, 404, 409, 422, 501, 505])
def test_non_transient_statuses(code):
    assert is_transient_response(code) is False


@pytest.mark.parametrize(
    ("code", "repeat"), [(429, True), (503, True), (408, True), (500, False), (502, False), (504, False)]
)
def test_a_create_is_repeated_only_after_answers_that_say_it_was_not_acted_on(code, repeat):
    assert is_transient_response(code, idempotent=False) is repeat


REQUEST = httpx.Request("POST", "http://provider.test/api/videos/create")


@pytest.mark.parametrize(
    ("error", "when_idempotent", "when_not"),
    [
        (httpx.ConnectError("refused", request=REQUEST), True, True),
        (httpx.ConnectTimeout("slow connect", request=REQUEST), True, True),
        (httpx.PoolTimeout("pool", request=REQUEST), True, True),
        (httpx.ReadTimeout("slow answer", request=REQUEST), True, False),
        (httpx.WriteTimeout("slow upload", request=REQUEST), True, False),
        (httpx.ReadError("reset", request=REQUEST), True, False),
        (httpx.RemoteProtocolError("peer closed", request=REQUEST), True, False),
        (httpx.DecodingError("bad gzip", request=REQUEST), False, False),
        (ValueError("not a network error"), False, False),
    ],
)
def test_is_transient_error(error, when_idempotent, when_not):
    assert is_transient_error(error, idempotent=True) is when_idempotent
    assert is_transient_error(error, idempotent=False) is when_not
