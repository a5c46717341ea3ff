"""The exposition's worker label and the lock-free request metrics, read back as text."""

from __future__ import annotations

import re

from roomful_meetings.metrics import exposition, request_metrics, with_label


def test_every_sample_gets_the_worker_label_and_comments_stay() -> None:
    text = b'# HELP a_total A\n# TYPE a_total counter\na_total 3.0\nb{code="404",endpoint="x"} 1.0\n'
    assert with_label(text, b"worker", b"2") == (
        b'# HELP a_total A\n# TYPE a_total counter\na_total{worker="2"} 3.0\n'
        b'b{worker="2",code="404",endpoint="x"} 1.0\n'
    )


def test_request_counts_and_times_appear_at_the_next_scrape() -> None:
    count, timed = request_metrics("test:metrics", 404)
    before = exposition().decode()
    count.inc()
    timed.observe(0.005)  # on a bound: in that bucket (le is "at most"), not in 0.0025
    timed.observe(7.0)  # above every bucket: only +Inf
    after = exposition().decode()

    def sample(text: str, pattern: str) -> float:
        match = re.search(pattern, text, re.M)
        return float(match.group(1)) if match else 0.0

    counted = r'^roomful_requests_total\{code="404",endpoint="test:metrics"\} (\S+)$'
    assert sample(after, counted) == sample(before, counted) + 1
    for le, grown in (("0.0025", 0), ("0.005", 1), ("2.5", 1), ("+Inf", 2)):
        bucket = rf'^roomful_request_seconds_bucket\{{endpoint="test:metrics",le="{re.escape(le)}"\}} (\S+)$'
        assert sample(after, bucket) == sample(before, bucket) + grown, le
