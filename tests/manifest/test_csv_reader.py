"""CSV manifests: a header row, one job per row, problems on each row's physical line."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest
from support import manifest_problems, problem_places

from batch_gen.keys import derive_id
from batch_gen.manifest import DEFAULT_MODEL, load_manifest
from batch_gen.manifest.csv_reader import lines_of, read_csv
from batch_gen.manifest.document import RawJob, Request
from batch_gen.manifest.jobs import build_jobs
from batch_gen.manifest.problems import Report
from batch_gen.models import RunDefaults


def write_csv(tmp_path: Path, text: str, name: str = "jobs.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))  # bytes: keep line endings exactly as written
    return path


def test_good_csv(tmp_path: Path) -> None:
    """CSV rows become jobs: ints parsed, params.* columns passed through, empty cells unset."""
    path = write_csv(
        tmp_path,
        "id,prompt,size,n,output_compression,params.background,params.seed\n"
        "boat,A paper boat,1024x1024,2,80,transparent,42\n"
        ',"A teapot, glass",,,,,\n'
        ",,,,,,\n"
        "\n"
        "7, spaced ,,,,,\n",
    )
    manifest = load_manifest(path)
    boat, teapot, seven = manifest.jobs
    assert boat.request == {
        "model": DEFAULT_MODEL,
        "n": 2,
        "size": "1024x1024",
        "output_compression": 80,
        "background": "transparent",
        "seed": "42",
    }
    assert (boat.id, boat.index, boat.line) == ("boat", 1, 2)
    assert (teapot.id, teapot.prompt, teapot.line) == (
        derive_id("A teapot, glass"),
        "A teapot, glass",
        3,
    )
    assert teapot.request == {"model": DEFAULT_MODEL, "n": 1}
    assert (seven.id, seven.index, seven.line, seven.prompt) == ("7", 3, 6, " spaced ")
    assert manifest.output.dir == Path("output/jobs")
    assert manifest.run == RunDefaults()


def test_csv_lines_after_multiline_cell(tmp_path: Path) -> None:
    """Problems name the physical line a row starts on, even after a quoted multi-line cell."""
    path = write_csv(
        tmp_path,
        "id,prompt,n,output_format\r\n"
        'a,"line one\r\nline two\r\nline three",two,png\r\n'
        "b,fine,0,jpg\r\n"
        "../c,fine,,\r\n"
        "d,,,\r\n"
        "b,again,,\r\n",
    )
    assert problem_places(path) == [
        (2, "n"),
        (5, "n"),
        (5, "output_format"),
        (6, "id"),
        (7, "prompt"),
        (8, "id"),
    ]


def test_csv_missing_prompt_column(tmp_path: Path) -> None:
    """A CSV without a prompt column is one problem at line 1, not one per row."""
    assert problem_places(write_csv(tmp_path, "id,size\na,1024x1024\nb,1024x1024\n")) == [
        (1, "prompt")
    ]


def test_csv_unknown_column(tmp_path: Path) -> None:
    """Unknown columns are reported at line 1 with a suggestion; rows are still checked."""
    found = manifest_problems(write_csv(tmp_path, "prompt,sise,n\na,1024x1024,x\n"))
    assert [(problem.line, problem.field) for problem in found] == [(1, "sise"), (2, "n")]
    assert "did you mean 'size'?" in found[0].message


def test_csv_params_column_is_explained(tmp_path: Path) -> None:
    """An unknown column with no close match points at params.<name> columns."""
    (problem,) = manifest_problems(write_csv(tmp_path, "prompt,seed\na,1\n"))
    assert "params.<name>" in problem.message


def test_csv_bom_tolerated(tmp_path: Path) -> None:
    """A spreadsheet's byte-order mark does not hide the first column's name."""
    path = tmp_path / "jobs.csv"
    path.write_bytes(b"\xef\xbb\xbfid,prompt\nboat,a\n")
    assert load_manifest(path).jobs[0].id == "boat"


def test_csv_unclosed_quote(tmp_path: Path) -> None:
    """An unclosed quote is a problem at the row where it starts, not a swallowed file."""
    found = manifest_problems(write_csv(tmp_path, 'id,prompt\na,fine\nb,"open\nc,d\n'))
    assert [(problem.line, problem.field) for problem in found] == [(3, None)]
    assert "check its quotes" in found[0].message


def test_csv_row_shape(tmp_path: Path) -> None:
    """Extra cells and values under an unnamed column are reported; short rows are fine."""
    path = write_csv(tmp_path, "prompt,size,\na\nb,1024x1024,x\nc,1024x1024,,extra\n")
    assert problem_places(path) == [(3, None), (4, None)]


def test_csv_empty_file(tmp_path: Path) -> None:
    """An empty CSV needs a header row."""
    (problem,) = manifest_problems(write_csv(tmp_path, ""))
    assert (problem.line, problem.field) == (1, None)
    assert "header" in problem.message


@pytest.mark.parametrize(
    "body",
    [
        "a,one\nb,two\n",
        "a,one\r\nb,two\r\n",
        "a,one\rb,two\r",  # old Mac line endings
        "a,one\nb,two",  # no final line break
        'a,"two\nlines"\r\nb,"and\r\nthree\rhere"\n',
        "a,next line \x85 and line \u2028 separators\nb,form \x0c feed \x1c\n",
        'a,"quoted \u2029 separator"\n\n\nb,after blank lines\n',
    ],
)
def test_rows_split_where_csv_files_do(body: str) -> None:
    """Rows and their lines are those of Python's csv over a file opened with newline="":
    only \\n, \\r\\n and \\r end a line, whatever other separators a prompt holds."""
    text = "id,prompt\n" + body
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    expected = []
    start = 1
    for cells in reader:
        if start > 1 and "".join(cells).strip():
            expected.append((start, cells[1]))
        start = reader.line_num + 1
    report = Report("jobs.csv")
    raws = [
        item if isinstance(item, RawJob) else item.raw() for item in read_csv(text, report).jobs
    ]
    rows = [(raw.line, next(s.value for s in raw.settings if s.name == "prompt")) for raw in raws]
    assert rows == expected
    assert not report.problems


def test_broken_quotes_are_reported_even_without_a_prompt_column(tmp_path: Path) -> None:
    """A bad header and an unclosed quote below it: both are reported at once."""
    path = write_csv(tmp_path, 'id,promt\na,"never closed\nb,c\n')
    lines = {line for line, _field in problem_places(path)}
    assert lines == {1, 2}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
@pytest.mark.parametrize(
    "text",
    [
        "",
        "a\nb\n",
        "a\r\nb\r\nc",
        "a\rb\r\n\r\nc\n\n",
        "x\x85y\u2028z\nw\x0cv\n",
        '"q\nr"\r\n"s\r\nt"\n',
        "\n\r\n\r\n\r",
    ],
)
def test_lines_are_those_a_csv_file_gives(text: str, chunk: int) -> None:
    """However the text is cut into chunks, the lines are io.StringIO's with newline=""."""
    assert list(lines_of(text, chunk=chunk)) == list(io.StringIO(text, newline=""))


def _random_csv(seed: int) -> str:
    """Rows that share their fields or not, with every kind of problem a row can have."""
    rng = random.Random(seed)
    header = ["id", "prompt", "model", "size", "n", "x-note", "params.seed", "action"]
    rows = [",".join(header)]
    for number in range(120):
        ids = [f"job-{number}", f"JOB-{number % 7}", f"job-{number % 9}", "", " a/b ", "../up"]
        job_id = rng.choice(ids)
        prompt = rng.choice(["a boat", " spaced ", "", "   ", "x" * 1001, f"p{number % 5}"])
        note = rng.choice(["", f"note {number}"])
        if rng.random() < 0.6:  # most rows share one of two shapes
            shared = rng.choice([("dall-e-2", "256x256", "", "", ""), ("", "", "", "7", "")])
            model, size, n, seed, action = shared
        else:
            model = rng.choice(["dall-e-2", "gpt-image-2", "flux-dev", ""])
            size = rng.choice(["256x256", "1024x1024", "auto", "9x9", ""])
            n = rng.choice(["", "1", "2", " 1 ", "x"])
            seed = rng.choice(["", "7", "8"])
            action = rng.choice([""] * 8 + ["enhance"])
        cells = [job_id, prompt, model, size, n, note, seed, action]
        cells += rng.choice([[], [], [], ["extra"]])
        if rng.random() < 0.05:
            cells = cells[:3]  # a short row
        rows.append(",".join(f'"{cell}"' if rng.random() < 0.3 else cell for cell in cells))
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("seed", range(12))
def test_rows_built_by_shortcut_are_those_built_in_full(seed: int) -> None:
    """A row whose other fields were checked before is built from its id and prompt alone:
    the jobs and the problems are exactly those of building every row in full."""
    text = _random_csv(seed)
    fast_report, full_report = Report("m.csv"), Report("m.csv")
    fast = build_jobs(
        read_csv(text, fast_report).jobs,
        Request(),
        provider="cometapi",
        base_dir=Path("."),
        report=fast_report,
    )
    raws = [
        item if isinstance(item, RawJob) else item.raw()
        for item in read_csv(text, full_report).jobs
    ]
    full = build_jobs(raws, Request(), provider="cometapi", base_dir=Path("."), report=full_report)
    assert fast == full
    assert fast_report.in_file_order() == full_report.in_file_order()
    assert fast  # some rows make jobs,
    assert full_report.problems  # and others have problems
