"""The command line end to end, as a person runs it: real processes, real files, exit statuses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mimio_core.cli import main
from mimio_core.domain import LOCAL_USER_ID
from mimio_core.local_server.runner import RunningServer
from mimio_core.store.sqlite import SQLiteStore
from tests.media import assert_playable_mp4, png_bytes
from tests.supabase.tokens import mint_jwt

ROOT = Path(__file__).resolve().parents[2]
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 200


def cli(data_dir: Path, *args: str, api_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MIMIO_DATA_DIR": str(data_dir), "MIMIO_POLL_INTERVAL": "0.2", "COLUMNS": "200"}
    env.pop("MIMIO_API_URL", None)
    if api_url:
        env["MIMIO_API_URL"] = api_url
    return subprocess.run(
        [sys.executable, "-m", "mimio_core", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def listed(data_dir: Path) -> list[dict[str, object]]:
    result = cli(data_dir, "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_create_a_single_video_offline(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = cli(data, "create", "a red fox running through snow", "--seconds", "4", "--size", "1280x720")
    assert result.returncode == 0, result.stderr
    assert "completed a red fox running through snow" in result.stdout
    (video,) = listed(data)
    assert video["status"] == "completed" and video["progress"] == 100
    assert_playable_mp4(data / "files" / str(video["storage_path"]), "1280x720", 4)


def test_variations_in_a_named_project(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = cli(
        data,
        "create",
        "waves at dusk",
        "--title",
        "Waves",
        "--variations",
        "2",
        "--seconds",
        "4",
        "--project",
        "Ads",
    )
    assert result.returncode == 0, result.stderr
    videos = listed(data)
    assert sorted(v["title"] for v in videos) == ["Waves - Variation 1", "Waves - Variation 2"]
    assert len({v["project_id"] for v in videos}) == 1 and videos[0]["project_id"]
    assert len({v["batch_id"] for v in videos}) == 1


def test_an_executable_named_png_is_refused_and_nothing_recorded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    evil = tmp_path / "evil.png"
    evil.write_bytes(ELF)
    result = cli(data, "create", "animate this", "--reference", str(evil))
    assert result.returncode == 2
    assert "Nothing was submitted" in result.stderr
    assert "evil.png" in result.stderr and "ELF" in result.stderr
    assert listed(data) == []


def test_a_refused_create_leaves_no_new_project_behind(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = cli(data, "create", "   ", "--project", "Launch")
    assert result.returncode == 2
    assert "Prompt is empty" in result.stderr
    store = SQLiteStore(data / "mimio.sqlite3")
    assert store.list_projects(LOCAL_USER_ID) == []
    store.close()


def test_a_bad_batch_file_names_each_bad_line_and_submits_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    batch = tmp_path / "prompts.csv"
    batch.write_text(
        "prompt,title,model,size,seconds\n"
        "a fine prompt,Fine,mimio-local,720x1280,4\n"
        ",Empty,mimio-local,720x1280,4\n"
        "too wide,Wide,mimio-local,1920x1080,4\n"
        "a model no active provider offers,Sora,sora-2,720x1280,4\n"
        "odd length,Odd,mimio-local,720x1280,5\n"
    )
    result = cli(data, "batch", str(batch))
    assert result.returncode == 2
    err = " ".join(result.stderr.split())
    assert "has 4 bad row(s)" in err
    assert "line 3: Prompt is empty" in err
    assert "line 4: mimio-local does not render 1920x1080" in err
    assert "line 5: Unknown model 'sora-2'; choose one of mimio-local." in err
    assert "line 6: mimio-local makes videos of 4, 8, 12 seconds, not 5" in err
    assert listed(data) == []


def test_a_batch_with_a_failing_video_exits_non_zero_naming_it(tmp_path: Path, server: RunningServer) -> None:
    httpx.post(
        f"{server.url}/_admin/faults",
        json={
            "outcomes": [{"prompt_contains": "doomed", "outcome": "failed", "message": "the model gave up"}]
        },
    ).raise_for_status()
    data = tmp_path / "data"
    (tmp_path / "poster.png").write_bytes(png_bytes())
    batch = tmp_path / "prompts.jsonl"
    batch.write_text(
        json.dumps({"prompt": "a happy scene", "title": "Happy", "seconds": 4, "reference": "poster.png"})
        + "\n"
        + json.dumps({"prompt": "a doomed scene", "title": "Doomed", "seconds": "4"})
        + "\n"
    )
    result = cli(data, "batch", str(batch), api_url=server.url)
    assert result.returncode == 1
    err = " ".join(result.stderr.split())
    assert "failed Doomed" in err and "the model gave up" in err
    assert sorted((v["title"], v["status"]) for v in listed(data)) == [
        ("Doomed", "failed"),
        ("Happy", "completed"),
    ]


def test_serve_local_answers_health(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MIMIO_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "mimio_core", "serve-local", "--port", str(port)], cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "serve-local did not start"
                time.sleep(0.2)
        assert answer.json() == {"status": "ok", "models": ["sora-2", "sora-2-pro", "mimio-local"]}
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.parametrize(
    "args",
    [["create", "a red fox"], ["batch", "prompts.csv"], ["list", "--json"], ["cancel", "some-id"]],
    ids=lambda a: a[0],
)
def test_with_supabase_configured_the_user_commands_refuse_and_touch_nothing(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Videos then belong to signed-in users; the CLI has none, so it says so instead of writing rows
    for a user who does not exist. (`worker` runs the engine for them.)"""
    monkeypatch.setenv("MIMIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUPABASE_URL", "https://abcd.supabase.co")
    monkeypatch.setenv("SUPABASE_ANON_KEY", mint_jwt("anon"))
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", mint_jwt("service_role"))
    assert main(args) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert f"{args[0]} works with the embedded store only: with Supabase configured" in said
    assert "`python -m mimio_core worker` runs the engine for them." in said
    assert not (tmp_path / "data").exists()


def test_a_batch_of_many_bad_rows_prints_the_first_ones_and_a_count(tmp_path: Path) -> None:
    data = tmp_path / "data"
    batch = tmp_path / "prompts.csv"
    batch.write_text("prompt,seconds\n" + "a fox,5\n" * 100_000)
    result = cli(data, "batch", str(batch))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "has 100000 bad row(s)" in lines[0]
    assert len(lines) == 1 + 20 + 1
    assert lines[1].strip() == "line 2: mimio-local makes videos of 4, 8, 12 seconds, not 5."
    assert lines[-1].strip() == "... and 99980 more bad row(s)."
    assert listed(data) == []


def test_cancel_retry_and_delete_are_requests_an_engine_carries_out(tmp_path: Path) -> None:
    """Recorded at once, whether or not an engine runs; the next engine (here `create`'s own) does them."""
    data = tmp_path / "data"
    queued = cli(data, "create", "a kite over the dunes", "--seconds", "4", "--no-wait")
    assert queued.returncode == 0, queued.stderr
    (video,) = listed(data)
    assert video["status"] == "queued"  # nobody made it: --no-wait started no engine

    asked = cli(data, "cancel", str(video["id"]))
    assert asked.returncode == 0, asked.stderr
    said = " ".join(asked.stdout.split())
    assert said == (
        f"Asked to cancel 'a kite over the dunes' ({video['id']}): no engine is running now: it is done when "
        "the app or `python -m mimio_core worker` runs."
    )
    (waiting,) = listed(data)
    assert (waiting["status"], waiting["requested"]) == ("queued", "cancel")  # only recorded

    again = cli(data, "retry", str(video["id"]), "--json")  # refused: it is not failed or cancelled yet
    assert again.returncode == 2
    assert "Not asked: Only a failed or cancelled video can be retried; this one is queued." in again.stderr

    other = cli(data, "create", "a second kite", "--seconds", "4")  # an engine: it carries the cancel out
    assert other.returncode == 0, other.stderr
    cancelled = next(v for v in listed(data) if v["id"] == video["id"])
    assert (cancelled["status"], cancelled["requested"], cancelled["error"]) == (
        "cancelled",
        None,
        "Cancelled.",
    )

    deleted = cli(data, "delete", str(video["id"]), "--json")
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["requested"] == "delete"
    unknown = cli(data, "delete", "no-such-video")
    assert unknown.returncode == 2
    assert "Not asked: That video does not exist (it may have been deleted)." in unknown.stderr
    (kept,) = listed(data)  # the video being deleted is out of the list at once
    assert kept["title"] == "a second kite"
    assert str(kept["id"]) in cli(data, "list").stdout  # the table shows the ids these commands take
