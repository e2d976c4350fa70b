"""Batch mode of ``voxportrait animate``: many jobs from a CSV or JSONL manifest.

Each CSV row or JSONL line is one job: ``image``, ``audio``, optional
``output``, plus any animate option by its long name (``fps``, ``framing``,
``head_preset`` or ``head-preset``...). Relative paths resolve against the
manifest's folder; a job without ``output`` writes IMAGE-NAME.mp4 (``.gif``,
or a folder of PNG frames, when the job's format says so) beside the manifest,
or in the folder given with ``-o``. Options given on the command line are the
defaults that a job's columns override; an empty cell (or JSON ``null``) keeps
the default.

Every job is checked before any runs. A job that fails the check (unknown
column, bad value, missing file or output folder, an output already claimed
by another job) is reported as failed and the others still run. Jobs run one
after another; stdout gets only the outputs written, one per line, and stderr
a summary table at the end. Exit status: 0 when every job succeeded, 3 when
any failed, 130 on Ctrl-C (the job in progress leaves no partial output; the
summary so far is still printed and the report still written).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

from .cli import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
    _animate_kwargs,
    _exit_code_of,
    _fail,
)

#: Option columns a job may set (argparse destinations of ``animate``).
OPTION_COLUMNS = (
    "fps", "size", "framing", "face_index", "seed", "engine", "mouth_scale", "head_scale",
    "head_preset", "still", "blink_rate", "brow_scale", "mouth", "resting_mouth", "background", "format",
    "allow_silent", "max_audio_seconds",
)
PATH_COLUMNS = ("image", "audio", "output")
COLUMNS = PATH_COLUMNS + OPTION_COLUMNS

_EXTENSIONS = {"mp4": ".mp4", "gif": ".gif", "png": ""}
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


class ManifestError(Exception):
    """The manifest as a whole cannot be used (nothing runs)."""

    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message)
        self.code = code


class Job:
    """One row of the manifest, checked, then run."""

    def __init__(self, number: int, line: int):
        self.number = number
        self.line = line
        self.image: Optional[str] = None
        self.audio: Optional[str] = None
        self.output: Optional[str] = None
        self.options: Dict[str, object] = {}
        self.errors: List[str] = []
        self.error_code = EXIT_OK
        self.status = "pending"
        self.seconds: Optional[float] = None
        self.report: Optional[dict] = None

    def invalid(self, message: str, code: int = EXIT_USAGE) -> None:
        self.errors.append(message)
        if self.error_code == EXIT_OK:
            self.error_code = code

    @property
    def error(self) -> Optional[str]:
        return "; ".join(self.errors) if self.errors else None

    def as_json(self) -> dict:
        d = {
            "job": self.number, "line": self.line, "status": self.status,
            "image": self.image, "audio": self.audio, "output": self.output,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "exit_code": self.error_code, "error": self.error,
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()},
        }
        if self.report:
            d.update({k: self.report[k] for k in ("format", "frames", "width", "height", "fps", "audio_seconds")
                      if k in self.report})
        return d


def _column_name(key) -> str:
    return str(key).strip().lower().replace("-", "_")


def _unknown_column(key) -> str:
    guess = difflib.get_close_matches(_column_name(key), COLUMNS, n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else f" (columns: {', '.join(COLUMNS)})"
    return f"unknown column {str(key)!r}{hint}"


def read_manifest(path: str) -> List[Tuple[int, object]]:
    """``(line number, record)`` for every job of a CSV or JSONL manifest.

    A CSV record is a dict of strings; a JSONL record is whatever the line
    holds, or a ``ValueError`` when the line is not JSON (checked later, per
    job). Raises :class:`ManifestError` when the file itself is unusable.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".jsonl", ".ndjson"):
        raise ManifestError(f"{path}: a batch manifest must be a .csv or .jsonl file", EXIT_USAGE)
    if not os.path.exists(path):
        raise ManifestError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ManifestError(f"{path}: is a folder, not a manifest file")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: cannot read it as UTF-8 text: {e}")
    records: List[Tuple[int, object]] = []
    if ext == ".csv":
        try:
            reader = csv.reader(text.splitlines(keepends=True))
            header = next(reader, None)
            if header is None:
                raise ManifestError(f"{path}: empty manifest; the first row must name the columns "
                                    "(image, audio, output, options)")
            names = [_column_name(h) for h in header]
            unknown = [h for h, n in zip(header, names) if n not in COLUMNS]
            if unknown:
                raise ManifestError(f"{path}: {_unknown_column(unknown[0])}", EXIT_USAGE)
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ManifestError(f"{path}: column {dupes[0]!r} appears twice", EXIT_USAGE)
            for missing in ("image", "audio"):
                if missing not in names:
                    raise ManifestError(f"{path}: no {missing!r} column; the first row must name the "
                                        "columns (image, audio, output, options)")
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                record: Dict[str, object] = dict(zip(names, row))
                if len(row) > len(names):
                    record[None] = row[len(names):]  # reported by the job check
                records.append((reader.line_num, record))
        except csv.Error as e:
            raise ManifestError(f"{path}: not a readable CSV file: {e}")
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line)))
            except ValueError as e:
                records.append((number, ValueError(f"not a JSON object: {e}")))
    if not records:
        raise ManifestError(f"{path}: no jobs in the manifest")
    return records


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _convert(action: argparse.Action, value):
    """A manifest value converted and checked exactly like the option."""
    if action.nargs == 0:  # store_true flags: --still, --allow-silent
        return _flag(value)
    if isinstance(value, bool) or isinstance(value, dict):
        raise ValueError(f"expected a value like the option {action.option_strings[-1]} takes, "
                         f"got {json.dumps(value)}")
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    text = str(value).strip()
    try:
        converted = action.type(text) if action.type else text
    except argparse.ArgumentTypeError as e:
        raise ValueError(str(e))
    except (TypeError, ValueError):
        raise ValueError(f"invalid value {text!r}")
    if action.choices is not None and converted not in action.choices:
        raise ValueError(f"invalid choice {text!r} (choose from {', '.join(map(str, action.choices))})")
    return converted


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def plan_jobs(manifest: str, records, actions: Dict[str, argparse.Action], args) -> List[Job]:
    """Checks every record and fills in paths; invalid jobs carry errors."""
    base = os.path.dirname(manifest)

    def resolve(p: str) -> str:
        return os.path.join(base, os.path.expanduser(p))

    jobs: List[Job] = []
    claimed: Dict[str, int] = {}
    for number, (line, record) in enumerate(records, 1):
        job = Job(number, line)
        jobs.append(job)
        if isinstance(record, ValueError):
            job.invalid(str(record))
            continue
        if not isinstance(record, dict):
            job.invalid(f"expected a JSON object with image, audio and output, got {json.dumps(record)[:60]}")
            continue
        if None in record:
            job.invalid(f"{len(record[None])} more value(s) than the header has columns")
        values: Dict[str, object] = {}
        for key, value in record.items():
            if key is None:
                continue
            name = _column_name(key)
            if name not in COLUMNS:
                job.invalid(_unknown_column(key))
            elif name in values:
                job.invalid(f"column {name!r} given twice")
            else:
                values[name] = value
        for name in PATH_COLUMNS:
            value = values.get(name)
            if _empty(value):
                if name != "output":
                    job.invalid(f"no {name}")
                continue
            if not isinstance(value, str):
                job.invalid(f"{name} must be a path, got {json.dumps(value)}")
                continue
            setattr(job, name, resolve(value.strip()))
        for name in OPTION_COLUMNS:
            value = values.get(name)
            if _empty(value):
                continue
            try:
                job.options[name] = _convert(actions[name], value)
            except ValueError as e:
                job.invalid(f"{name}: {e}")
        for name in ("image", "audio"):
            path = getattr(job, name)
            if path is not None and not os.path.isfile(path):
                job.invalid(f"{path}: no such {name} file" if not os.path.exists(path)
                            else f"{path}: is a folder, not an {name} file", EXIT_INPUT)
        fmt = job.options.get("format", args.format)
        if job.output is None and job.image is not None:
            stem = os.path.splitext(os.path.basename(job.image))[0]
            job.output = os.path.join(args.output if args.output else base, stem + _EXTENSIONS[fmt or "mp4"])
        if job.output is not None:
            folder = os.path.dirname(os.path.abspath(job.output))
            key = os.path.normcase(os.path.abspath(job.output))
            if not os.path.isdir(folder):
                job.invalid(f"{job.output}: output folder {folder} does not exist; create it first", EXIT_OUTPUT)
            elif key in claimed and not job.errors:
                job.invalid(f"{job.output}: also the output of job {claimed[key]}; give each job its own "
                            "output", EXIT_USAGE)
            elif not job.errors:
                claimed[key] = number
    for job in jobs:
        if job.errors:
            job.status = "failed"
    return jobs


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).splitlines()).strip() or type(e).__name__


def _summary(manifest: str, jobs: List[Job], elapsed: float, interrupted: bool, table: bool = True) -> str:
    """The summary table (job, line, status, seconds, output or error) and a count."""
    rows = [("job", "line", "status", "seconds", "output / error")]
    for j in jobs:
        detail = j.output if j.status == "ok" else (j.error or "")
        rows.append((str(j.number), str(j.line), j.status,
                     "-" if j.seconds is None else f"{j.seconds:.1f}", detail or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"voxportrait: batch summary of {manifest}"] if table else []
    for r in rows if table else ():
        lines.append("  " + "  ".join([r[0].rjust(widths[0]), r[1].rjust(widths[1]), r[2].ljust(widths[2]),
                                       r[3].rjust(widths[3]), r[4]]))
    ok = sum(j.status == "ok" for j in jobs)
    failed = sum(j.status == "failed" for j in jobs)
    tail = f"{ok} of {len(jobs)} jobs ok, {failed} failed"
    if interrupted:
        tail += f", {len(jobs) - ok - failed} interrupted or not run (Ctrl-C)"
    lines.append(f"voxportrait: {tail} in {elapsed:.1f} s")
    return "\n".join(lines)


def _report_json(manifest: str, jobs: List[Job], elapsed: float, interrupted: bool) -> str:
    return json.dumps({
        "format": "voxportrait.batch/1",
        "manifest": manifest,
        "jobs": [j.as_json() for j in jobs],
        "total": len(jobs),
        "ok": sum(j.status == "ok" for j in jobs),
        "failed": sum(j.status == "failed" for j in jobs),
        "interrupted": interrupted,
        "seconds": round(elapsed, 3),
    }, indent=2) + "\n"


def run_batch(args, animate_parser: argparse.ArgumentParser) -> int:
    """Runs ``voxportrait animate --batch``; returns the exit code."""
    from tqdm import tqdm

    from . import _native
    from ._files import write_text_atomic
    from .api import animate

    manifest = args.batch
    if args.output is not None and not os.path.isdir(args.output):
        if os.path.exists(args.output):
            return _fail(EXIT_USAGE, f"with --batch, -o names the folder for outputs; {args.output} is a file")
        return _fail(EXIT_OUTPUT, f"{args.output}: output folder does not exist; create it first")
    if args.batch_report:
        folder = os.path.dirname(os.path.abspath(args.batch_report))
        if not os.path.isdir(folder):
            return _fail(EXIT_OUTPUT, f"{args.batch_report}: output folder {folder} does not exist; create it first")
    try:
        records = read_manifest(manifest)
    except ManifestError as e:
        return _fail(e.code, str(e))
    actions = {a.dest: a for a in animate_parser._actions if a.dest in OPTION_COLUMNS}
    jobs = plan_jobs(manifest, records, actions, args)
    for j in jobs:
        if j.errors:
            print(f"voxportrait: error: job {j.number}/{len(jobs)} ({manifest} line {j.line}): {j.error}",
                  file=sys.stderr)

    total = len(jobs)
    started = time.monotonic()
    interrupted = False
    current: Optional[Job] = None
    try:
        for job in jobs:
            if job.errors:
                continue
            current = job
            bar = None

            def progress(done: int, frames: int, job=job) -> None:
                nonlocal bar
                if args.quiet:
                    return
                if bar is None:
                    bar = tqdm(total=frames, unit="frame", desc=f"job {job.number}/{total}", file=sys.stderr,
                               dynamic_ncols=True, leave=False)
                bar.update(done - bar.n)

            options = argparse.Namespace(**vars(args))
            vars(options).update(job.options)
            t0 = time.monotonic()
            try:
                job.report = animate(job.image, job.audio, job.output, **_animate_kwargs(options),
                                     progress=progress)
                job.status = "ok"
            except (KeyboardInterrupt, _native.CancelledError):
                raise
            except Exception as e:
                if os.environ.get("VOXPORTRAIT_DEBUG"):
                    raise
                job.status = "failed"
                job.error_code = _exit_code_of(e)
                message = _one_line(e)
                if job.error_code == EXIT_INTERNAL:
                    message = f"unexpected {type(e).__name__}: {message} (a bug; rerun with VOXPORTRAIT_DEBUG=1 " \
                              "and report it)"
                job.errors.append(message)
            finally:
                job.seconds = time.monotonic() - t0
                if bar is not None:
                    bar.close()
            current = None
            if job.status == "ok":
                print(job.report["output"], flush=True)
                if not args.quiet:
                    r = job.report
                    print(f"voxportrait: job {job.number}/{total} ok: {r['frames']} frames {r['width']}x{r['height']}"
                          f" at {r['fps']} fps in {job.seconds:.1f} s", file=sys.stderr)
            else:
                print(f"voxportrait: error: job {job.number}/{total} ({manifest} line {job.line}): {job.error}",
                      file=sys.stderr)
    except (KeyboardInterrupt, _native.CancelledError):
        interrupted = True
        if current is not None and current.status == "pending":
            current.status = "interrupted"
            current.error_code = EXIT_INTERRUPTED
            current.errors.append("interrupted; no output written")
        for job in jobs:
            if job.status == "pending":
                job.status = "not run"
                job.error_code = EXIT_INTERRUPTED
        print("voxportrait: interrupted; the job in progress left no output", file=sys.stderr)
    elapsed = time.monotonic() - started

    print(_summary(manifest, jobs, elapsed, interrupted, table=not args.quiet), file=sys.stderr)
    if args.batch_report:
        try:
            write_text_atomic(args.batch_report, _report_json(manifest, jobs, elapsed, interrupted))
        except _native.OutputError as e:
            _fail(EXIT_OUTPUT, str(e))
            if not interrupted:
                return EXIT_OUTPUT
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(j.status == "ok" for j in jobs) else EXIT_INPUT
