"""CSV uploads: accepted forms, and every bad line reported with its line number under /file."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lab import csvformat, services, storage
from lab.models import Dataset
from tests.conftest import assert_problem

pytestmark = pytest.mark.django_db

DATASETS = "/api/v1/lab/datasets"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000


def upload(api, text: str, **fields):
    data = {
        "source": "csv",
        "name": "Upload",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "file": SimpleUploadedFile("candles.csv", text.encode("utf-8"), content_type="text/csv"),
        **fields,
    }
    return api.post(DATASETS, data, format="multipart")


def rows(count: int, start: int = T0) -> list[str]:
    return [f"{start + i * MINUTE},100,101,99,100.5,{i}.25" for i in range(count)]


def csv(lines: list[str]) -> str:
    return "ts,open,high,low,close,volume\n" + "\n".join(lines) + "\n"


def file_errors(response) -> list[str]:
    body = assert_problem(response, 400, "validation-error")
    assert {e["pointer"] for e in body["errors"]} == {"/file"}
    return [e["detail"] for e in body["errors"]]


def test_upload_stores_the_candles_and_their_hash(trader_api, lab_media):
    response = upload(trader_api, csv(rows(5)))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rows"], body["source"], body["status"]) == (5, "csv", "ready")
    assert body["start_ts"] == "2026-01-01T00:00:00Z"
    assert body["end_ts"] == "2026-01-01T00:05:00Z"
    dataset = Dataset.objects.get(pk=body["id"])
    candles = storage.read_candles(dataset.file_path, rows=5, sha256=dataset.sha256)
    assert candles.volume.tolist() == [0.25, 1.25, 2.25, 3.25, 4.25]
    assert candles.close.tolist() == [100.5] * 5


def test_iso_times_bom_blank_lines_and_header_case_are_accepted(trader_api):
    text = (
        "\ufeff TS , Open,HIGH,low,close,volume\r\n"
        "2026-01-01T00:00:00Z,1,2,0.5,1.5,10\r\n"
        "\r\n"
        "2026-01-01T03:00:00+03:00,1,2,0.5,1.5,10\r\n"
    )
    # 03:00+03:00 is 00:00Z: the same instant as line 2.
    assert file_errors(upload(trader_api, text)) == [
        "line 4: duplicate timestamp (the same as line 2)"
    ]
    text = text.replace("03:00:00+03:00", "03:01:00+03:00")
    response = upload(trader_api, text)
    assert response.status_code == 201, response.content
    assert response.json()["rows"] == 2
    assert response.json()["end_ts"] == "2026-01-01T00:02:00Z"


def test_every_bad_line_is_reported_with_its_number(trader_api):
    lines = rows(12)
    lines[1] = f"{T0 + MINUTE},100,98,99,100,1"  # line 3: high below low
    lines[2] = f"{T0 + 2 * MINUTE},100,101,99,abc,1"  # line 4
    lines[3] = f"{T0 + 3 * MINUTE},100,101,99,100"  # line 5: five columns
    lines[4] = f"{T0 + 4 * MINUTE},100,101,99,102,1"  # line 6: close above high
    lines[5] = f"{T0 + 5 * MINUTE},100,101,99,100,-1"  # line 7
    lines[6] = f"{T0 + 6 * MINUTE},0,101,99,100,1"  # line 8
    lines[8] = f"{T0 + 8 * MINUTE + 30_000},100,101,99,100,1"  # line 10: half a minute off
    lines[9] = "yesterday,100,101,99,100,1"  # line 11
    lines[10] = "1767225600,100,101,99,100,1"  # line 12: seconds
    errors = file_errors(upload(trader_api, csv(lines)))
    assert errors == [
        "line 3: high is below low",
        "line 4: close 'abc' is not a number",
        "line 5: expected 6 columns, found 5",
        "line 6: high is below open or close",
        "line 7: volume must not be negative",
        "line 8: open must be above zero",
        # Bad lines are skipped: line 9 follows line 2, the last good one, 7 minutes later.
        "line 10: 90 s after the previous candle (line 9), not a whole number of 1m candles",
        "line 11: ts 'yesterday' is neither epoch milliseconds nor an ISO 8601 time",
        "line 12: ts 1767225600 looks like seconds; give epoch milliseconds",
    ]
    assert not Dataset.objects.exists()


def test_timestamps_beyond_the_year_9999_are_400_with_their_line(trader_api):
    lines = rows(6)
    lines[0] = "99999999999999999999999,100,101,99,100,1"  # line 2: a typo, 23 digits
    lines[1] = f"{T0 * 1000},100,101,99,100,1"  # line 3: microseconds
    lines[2] = "9" * 5000 + ",100,101,99,100,1"  # line 4: longer than Python parses into an int
    lines[3] = "9999-06-01T00:00:00Z,100,101,99,100,1"  # line 5
    lines[4] = "-" + "9" * 30 + ",100,101,99,100,1"  # line 6
    response = upload(trader_api, csv(lines))
    assert response["Content-Type"] == "application/problem+json"
    assert file_errors(response) == [
        "line 2: ts 99999999999999999999999 is after 9999-01-01T00:00:00Z; give epoch "
        "milliseconds or an ISO 8601 time",
        f"line 3: ts {T0 * 1000} is after 9999-01-01T00:00:00Z; give epoch milliseconds or an "
        "ISO 8601 time",
        f"line 4: ts {'9' * 40}… is after 9999-01-01T00:00:00Z; give epoch milliseconds or an "
        "ISO 8601 time",
        "line 5: ts 9999-06-01T00:00:00Z is after 9999-01-01T00:00:00Z; give epoch "
        "milliseconds or an ISO 8601 time",
        "line 6: ts is before the epoch",
    ]
    assert not Dataset.objects.exists()
    # The last accepted open time still makes a dataset (whose end is a minute later).
    response = upload(trader_api, csv(["9998-12-31T23:59:00Z,100,101,99,100,1"]))
    assert response.status_code == 201, response.content
    assert response.json()["end_ts"] == "9999-01-01T00:00:00Z"


def test_out_of_order_and_duplicate_lines(trader_api):
    lines = rows(4)
    lines[2] = lines[1]  # line 4 repeats line 3's time
    lines.append(f"{T0},1,2,0.5,1,1")  # line 6 goes back in time
    assert file_errors(upload(trader_api, csv(lines))) == [
        "line 4: duplicate timestamp (the same as line 3)",
        "line 6: timestamp is before the previous candle's (line 5)",
    ]


def test_errors_are_capped_and_the_rest_counted(trader_api):
    lines = [f"{T0 + i * MINUTE},100,98,99,100,1" for i in range(30)]
    errors = file_errors(upload(trader_api, csv(lines)))
    assert len(errors) == csvformat.MAX_ERRORS + 1
    assert errors[0] == "line 2: high is below low"
    assert errors[csvformat.MAX_ERRORS - 1] == f"line {csvformat.MAX_ERRORS + 1}: high is below low"
    assert errors[-1] == f"and {30 - csvformat.MAX_ERRORS} more lines with errors"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\n\n", "the file is empty; the first line must be ts,open,high,low,close,volume"),
        ("ts,open,high,low,close,volume\n", "the file has a header but no candles"),
        ("time,o,h,l,c,v\n1,2,3,4,5,6\n", "line 1: the header must be ts,open,high,low,close,"),
    ],
)
def test_empty_files_and_wrong_headers(trader_api, text, message):
    assert file_errors(upload(trader_api, text))[0].startswith(message)


def test_a_zero_byte_file_is_400_at_file(trader_api):
    file_errors(upload(trader_api, ""))


def test_non_utf8_file(trader_api):
    data = {
        "source": "csv",
        "name": "Latin",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "file": SimpleUploadedFile("c.csv", b"ts,open,high,low,close,volume\n\xff\xfe,1\n"),
    }
    assert file_errors(trader_api.post(DATASETS, data, format="multipart")) == [
        "the file is not UTF-8 text"
    ]


def test_row_and_size_limits(trader_api, settings):
    settings.LAB_MAX_DATASET_ROWS = 3
    assert file_errors(upload(trader_api, csv(rows(4)))) == [
        "line 5: the file has more than 3 candles"
    ]
    settings.LAB_MAX_DATASET_ROWS = 100
    settings.LAB_MAX_UPLOAD_BYTES = 50
    assert file_errors(upload(trader_api, csv(rows(4))))[0].startswith("The file is larger")


def test_unknown_symbol_needs_an_amount_step(trader_api):
    body = assert_problem(upload(trader_api, csv(rows(3)), symbol="ABC/XYZ"), 400)
    assert body["errors"][0]["pointer"] == "/amount_step"
    response = upload(trader_api, csv(rows(3)), symbol="ABC/XYZ", amount_step="0.01")
    assert response.status_code == 201
    assert response.json()["amount_step"] == "0.01"


def test_csv_round_trip_keeps_the_hash(dataset):
    candles = services.load_candles(dataset)
    parsed = csvformat.parse_candles(
        io.BytesIO(csvformat.render_candles(candles)), timeframe_ms=MINUTE, max_rows=10_000
    )
    assert storage.candles_sha256(parsed) == dataset.sha256
    assert np.array_equal(parsed.close, candles.close)
