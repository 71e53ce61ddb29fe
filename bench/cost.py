"""List prices (us-east-1) and the cost model: what a run counted, priced as it runs on AWS,
and the least-squares fit that carries the counts from the local runs to a million records.

Prices, checked on AWS's pricing pages (2026-12): Step Functions Standard $0.025 per 1,000
state transitions; Express $1.00 per million requests and $0.00001667 per GB-second, its
duration rounded up to 100 ms and its memory billed in 64 MB chunks; Lambda $0.20 per
million requests and, per GB-second, $0.0000166667 on x86_64 or $0.0000133334 on arm64;
S3 Standard PUT/COPY/POST/LIST $0.005 per 1,000, GET and others $0.0004 per 1,000;
DynamoDB on demand $0.625 per million write request units and $0.125 per million read
request units (a transactional write costs two units per item, a strongly consistent read
one); SQS standard $0.40 per million requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SFN_STANDARD_PER_TRANSITION = 0.000025
SFN_EXPRESS_PER_REQUEST = 1.00 / 1e6
SFN_EXPRESS_PER_GB_SECOND = 0.00001667
SFN_EXPRESS_MEMORY_CHUNK_GB = 64 / 1024
SFN_EXPRESS_DURATION_STEP = 0.1
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
S3_PER_PUT = 0.005 / 1000
S3_PER_GET = 0.0004 / 1000
DYNAMODB_PER_WRITE_UNIT = 0.625 / 1e6
DYNAMODB_PER_READ_UNIT = 0.125 / 1e6
SQS_PER_REQUEST = 0.40 / 1e6


@dataclass(frozen=True)
class Usage:
    """What a run used, in the units AWS bills."""

    standard_transitions: float = 0.0
    express_requests: float = 0.0
    express_gb_seconds: float = 0.0  # already rounded as Express bills
    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    s3_puts: float = 0.0  # PUT, COPY, POST and LIST
    s3_gets: float = 0.0
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    sqs_requests: float = 0.0


def express_gb_seconds(seconds: float, memory_mb: float = 64) -> float:
    """One Express execution's billed GB-s: duration up to the next 100 ms, memory to 64 MB chunks."""
    steps = -(-seconds // SFN_EXPRESS_DURATION_STEP)
    chunks = max(1.0, -(-memory_mb // 64))
    return steps * SFN_EXPRESS_DURATION_STEP * chunks * SFN_EXPRESS_MEMORY_CHUNK_GB


def cost(usage: Usage, architecture: str = "arm64") -> dict[str, float]:
    """Dollars per service for ``usage``."""
    return {
        "Step Functions": usage.standard_transitions * SFN_STANDARD_PER_TRANSITION
        + usage.express_requests * SFN_EXPRESS_PER_REQUEST
        + usage.express_gb_seconds * SFN_EXPRESS_PER_GB_SECOND,
        "Lambda": usage.lambda_requests * LAMBDA_PER_REQUEST
        + usage.lambda_gb_seconds * LAMBDA_PER_GB_SECOND[architecture],
        "S3": usage.s3_puts * S3_PER_PUT + usage.s3_gets * S3_PER_GET,
        "DynamoDB": usage.dynamodb_write_units * DYNAMODB_PER_WRITE_UNIT
        + usage.dynamodb_read_units * DYNAMODB_PER_READ_UNIT,
        "SQS": usage.sqs_requests * SQS_PER_REQUEST,
    }


@dataclass(frozen=True)
class Fit:
    """``value = fixed + per_record * records + per_batch * batches``."""

    fixed: float
    per_record: float
    per_batch: float

    def at(self, records: float, batches: float) -> float:
        return self.fixed + self.per_record * records + self.per_batch * batches


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting; a singular column gets 0."""
    n = len(vector)
    rows = [[*row, v] for row, v in zip(matrix, vector, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        if abs(rows[col][col]) < 1e-12:
            continue
        for r in range(n):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [rows[i][n] / rows[i][i] if abs(rows[i][i]) >= 1e-12 else 0.0 for i in range(n)]


def fit(points: Sequence[tuple[float, float, float]]) -> Fit:
    """Least squares over (records, batches, value): runs at two batch sizes at least tell
    the per-record part from the per-batch part."""
    design = [(1.0, r, b) for r, b, _ in points]
    values = [v for _, _, v in points]
    normal = [[sum(x[i] * x[j] for x in design) for j in range(3)] for i in range(3)]
    right = [sum(x[i] * v for x, v in zip(design, values, strict=True)) for i in range(3)]
    fixed, per_record, per_batch = _solve(normal, right)
    return Fit(fixed, per_record, per_batch)


def fit_each(points: Sequence[tuple[float, float, Mapping[str, float]]]) -> dict[str, Fit]:
    """One fit per figure, over the same runs."""
    names = points[0][2].keys()
    return {name: fit([(r, b, values[name]) for r, b, values in points]) for name in names}
