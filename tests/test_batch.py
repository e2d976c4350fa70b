"""``voxportrait animate --batch``: many jobs from a CSV or JSONL manifest,
checked first, run one by one, summarised; bad jobs fail alone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from helpers import DATA, PORTRAIT, SPEECH, SPEECH_1S, decode_frames, listing, run_cli

EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
NOT_IMAGE = DATA / "not_image.png"
# GIF output needs no ffmpeg; the energy engine needs no model: fast jobs.
FAST = ("--engine", "energy", "--format", "gif")


def gif_facts(path):
    frames = decode_frames(path)
    return len(frames), frames[0].shape[1], frames[0].shape[0]


def summary_rows(stderr):
    """``{job number: (status, whole row)}`` from the summary table."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if "batch summary of" in line)
    assert lines[start + 1].split() == ["job", "line", "status", "seconds", "output", "/", "error"]
    rows = {}
    for line in lines[start + 2:]:
        if line.startswith("voxportrait:"):
            break
        parts = line.split()
        rows[int(parts[0])] = ("not run" if parts[2:4] == ["not", "run"] else parts[2], line)
    return rows


def test_csv_manifest_runs_good_jobs_with_row_overrides_and_fails_the_bad_one(tmp_path):
    jobs = tmp_path / "jobs"
    (jobs / "out").mkdir(parents=True)
    renders = tmp_path / "renders"
    renders.mkdir()
    shutil.copy(PORTRAIT, jobs / "portrait.png")
    shutil.copy(SPEECH_1S, jobs / "speech.wav")
    (jobs / "jobs.csv").write_text(
        "image,audio,output,size,Framing\n"
        "portrait.png,speech.wav,out/default.gif,,\n"  # command-line defaults
        "portrait.png,speech.wav,out/small.gif,96,\n"  # size overridden
        f"{NOT_IMAGE},speech.wav,out/broken.gif,,\n"  # fails when it runs
        "portrait.png,speech.wav,,,crop\n"  # no output: IMAGE-NAME.gif in -o DIR
    )
    report = tmp_path / "report.json"
    r = run_cli("animate", "--batch", jobs / "jobs.csv", "--size", "128", *FAST, "-o", renders,
                "--batch-report", report)
    assert r.returncode == EXIT_INPUT, r.stderr
    assert "Traceback" not in r.stderr
    written = [jobs / "out" / "default.gif", jobs / "out" / "small.gif", renders / "portrait.gif"]
    assert r.stdout.splitlines() == [str(p) for p in written]
    assert gif_facts(written[0]) == (25, 128, 128)
    assert gif_facts(written[1]) == (25, 96, 96)
    assert gif_facts(written[2]) == (25, 128, 128)
    # The crop is an aligned face crop, not the whole portrait scaled down.
    whole, crop = decode_frames(written[0])[0], decode_frames(written[2])[0]
    assert np.abs(whole.astype(int) - crop.astype(int)).mean() > 10
    # The failed job left nothing behind, not even a temporary file.
    assert listing(jobs / "out") == ["default.gif", "small.gif"]
    assert listing(renders) == ["portrait.gif"]

    rows = summary_rows(r.stderr)
    assert [rows[n][0] for n in (1, 2, 3, 4)] == ["ok", "ok", "failed", "ok"]
    assert rows[1][1].endswith(str(written[0])) and rows[4][1].endswith(str(written[2]))
    assert "not a recognised image" in rows[3][1]
    assert "3 of 4 jobs ok, 1 failed" in r.stderr

    data = json.loads(report.read_text())
    assert (data["total"], data["ok"], data["failed"], data["interrupted"]) == (4, 3, 1, False)
    by_job = {j["job"]: j for j in data["jobs"]}
    assert [by_job[n]["line"] for n in (1, 2, 3, 4)] == [2, 3, 4, 5]
    assert by_job[2]["options"] == {"size": 96} and by_job[2]["width"] == 96
    assert by_job[4]["options"] == {"framing": "crop"}
    assert by_job[4]["output"] == str(renders / "portrait.gif")
    assert by_job[3]["status"] == "failed" and by_job[3]["exit_code"] == EXIT_INPUT
    assert all(by_job[n]["seconds"] > 0 for n in (1, 2, 4))


def test_jsonl_manifest_lists_invalid_jobs_with_line_numbers_and_runs_the_rest(tmp_path, outdir):
    manifest = tmp_path / "jobs.jsonl"
    good = {"image": str(PORTRAIT), "audio": str(SPEECH_1S)}
    lines = [
        {**good, "output": "out/a.gif", "head-preset": "lively", "still": True},  # line 1
        {**good, "output": "out/b.gif", "fsp": 30},  # 2: unknown column
        {**good, "output": "out/c.gif", "size": 10, "engine": "magic"},  # 3: two bad values
        {**good, "output": "out/d.gif", "audio": "missing.wav"},  # 4: missing file
        {**good, "output": "out/a.gif"},  # 5: same output as line 1
    ]
    text = "\n".join(json.dumps(x) for x in lines)
    text += "\n\n{not json\n"  # line 7
    text += json.dumps({**good, "output": "out/e.gif", "size": 96, "blink_rate": "0", "mouth": [0.5, 0.7]}) + "\n"
    manifest.write_text(text)
    r = run_cli("animate", "--batch", manifest, "--size", "128", *FAST)
    assert r.returncode == EXIT_INPUT, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout.splitlines() == [str(outdir / "a.gif"), str(outdir / "e.gif")]
    assert gif_facts(outdir / "a.gif") == (25, 128, 128)
    assert gif_facts(outdir / "e.gif") == (25, 96, 96)
    assert listing(outdir) == ["a.gif", "e.gif"]

    # Each invalid job is named, with its line, before any job runs.
    errors = [line for line in r.stderr.splitlines() if line.startswith("voxportrait: error: ")]
    assert len(errors) == 5, r.stderr  # job 7 (line 8) is fine
    assert "jobs.jsonl line 2)" in errors[0] and "unknown column 'fsp'; did you mean 'fps'?" in errors[0]
    assert "line 3" in errors[1] and "size" in errors[1] and "engine" in errors[1] and "magic" in errors[1]
    assert "line 4" in errors[2] and "missing.wav: no such audio file" in errors[2]
    assert "line 5" in errors[3] and "also the output of job 1" in errors[3]
    assert "line 7" in errors[4] and "not a JSON object" in errors[4]
    assert r.stderr.index(errors[-1]) < r.stderr.index("job 1/7 ok")

    rows = summary_rows(r.stderr)
    assert [rows[n][0] for n in range(1, 8)] == ["ok"] + ["failed"] * 5 + ["ok"]
    assert "2 of 7 jobs ok, 5 failed" in r.stderr


def test_all_jobs_ok_exits_0_and_quiet_prints_only_the_count(tmp_path, outdir):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(f"image,audio,output,fps\n{PORTRAIT},{SPEECH_1S},out/a.gif,\n"
                        f"{PORTRAIT},{SPEECH_1S},out/b.gif,12.5\n")
    r = run_cli("animate", "--batch", manifest, "--size", "64", *FAST, "-q")
    assert r.returncode == EXIT_OK, r.stderr
    assert r.stdout.splitlines() == [str(outdir / "a.gif"), str(outdir / "b.gif")]
    assert gif_facts(outdir / "a.gif")[0] == 25
    assert gif_facts(outdir / "b.gif")[0] == 13  # round(1 s x 12.5), halves up
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "2 of 2 jobs ok, 0 failed" in lines[0], r.stderr


def test_batch_usage_errors_exit_2(tmp_path, outdir):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(f"image,audio,output\n{PORTRAIT},{SPEECH_1S},out/a.gif\n")
    for args in (["--batch", manifest, PORTRAIT, SPEECH_1S],  # a mix
                 ["--batch", manifest, PORTRAIT],
                 [],  # neither
                 [PORTRAIT, SPEECH_1S, "--batch-report", tmp_path / "r.json"],
                 ["--batch", manifest, "--fps", "abc"]):
        r = run_cli("animate", *args)
        assert r.returncode == EXIT_USAGE, (args, r.stderr)
        assert "Traceback" not in r.stderr and "usage:" in r.stderr
        assert r.stdout == ""
    assert listing(outdir) == [] and listing(tmp_path) == ["jobs.csv", "out"]


def test_unusable_manifests_fail_with_one_line(tmp_path, outdir):
    def check(manifest, code, words, *args):
        r = run_cli("animate", "--batch", manifest, *args)
        assert r.returncode == code, r.stderr
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("voxportrait: error: ") and words in lines[0], r.stderr
        assert r.stdout == ""

    check(tmp_path / "nope.csv", EXIT_INPUT, "no such file")
    (tmp_path / "jobs.txt").write_text("image,audio\n")
    check(tmp_path / "jobs.txt", EXIT_USAGE, ".csv or .jsonl")
    (tmp_path / "typo.csv").write_text(f"image,audio,fsp\n{PORTRAIT},{SPEECH_1S},30\n")
    check(tmp_path / "typo.csv", EXIT_USAGE, "unknown column 'fsp'; did you mean 'fps'?")
    (tmp_path / "noaudio.csv").write_text(f"image,output\n{PORTRAIT},out/a.gif\n")
    check(tmp_path / "noaudio.csv", EXIT_INPUT, "no 'audio' column")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    check(tmp_path / "empty.jsonl", EXIT_INPUT, "no jobs")
    (tmp_path / "ok.csv").write_text(f"image,audio\n{PORTRAIT},{SPEECH_1S}\n")
    check(tmp_path / "ok.csv", EXIT_OUTPUT, "does not exist", "-o", tmp_path / "missing")
    check(tmp_path / "ok.csv", EXIT_OUTPUT, "does not exist", "--batch-report", tmp_path / "missing" / "r.json")
    assert listing(outdir) == []


def test_ctrl_c_stops_the_batch_leaves_no_partial_file_and_prints_the_summary(tmp_path, outdir):
    # Job 2 (8 s of speech as a 1024 px GIF) takes many seconds: the interrupt lands in it.
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("image,audio,output,size\n"
                        f"{PORTRAIT},{SPEECH_1S},out/a.gif,64\n"
                        f"{PORTRAIT},{SPEECH},out/b.gif,1024\n"
                        f"{PORTRAIT},{SPEECH_1S},out/c.gif,64\n")
    report = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxportrait", "animate", "--batch", str(manifest), *FAST,
         "--batch-report", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait until job 1 is done and job 2 is writing (its hidden temp file appears).
    deadline = time.monotonic() + 60
    while len(listing(outdir)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "interrupted" in err
    assert out.splitlines() == [str(outdir / "a.gif")]
    assert listing(outdir) == ["a.gif"]
    rows = summary_rows(err)
    assert [rows[n][0] for n in (1, 2, 3)] == ["ok", "interrupted", "not run"]
    data = json.loads(report.read_text())
    assert data["interrupted"] is True
    assert [j["status"] for j in data["jobs"]] == ["ok", "interrupted", "not run"]
    assert os.path.exists(report) and listing(tmp_path) == ["jobs.csv", "out", "report.json"]
