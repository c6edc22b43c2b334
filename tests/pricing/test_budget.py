"""The --max-cost ledger: what it refuses, what it books, how it reports."""

from __future__ import annotations

import pytest

from batch_gen.pricing.budget import Budget


def test_budget_refuses_the_job_that_would_exceed_the_limit() -> None:
    """Spent plus in flight plus the new estimate must stay within the limit; equal fits."""
    budget = Budget(limit_usd=1.0)
    assert budget.can_start(0.6)
    budget.start(0.6)
    assert not budget.can_start(0.5)
    assert budget.can_start(0.4)
    budget.start(0.4)
    assert budget.remaining_usd == pytest.approx(0.0)
    assert not budget.can_start(0.01)


def test_budget_finish_books_the_actual_cost() -> None:
    """finish moves the estimate out of committed and the actual cost (else it) into spent."""
    budget = Budget(limit_usd=1.0)
    budget.start(0.6)
    budget.start(0.2)
    budget.finish(0.6, 0.3)  # cheaper than estimated: room for more
    assert budget.spent_usd == pytest.approx(0.3)
    assert budget.committed_usd == pytest.approx(0.2)
    assert budget.can_start(0.5)
    budget.finish(0.2, None)  # no actual cost known: the estimate stands
    assert budget.spent_usd == pytest.approx(0.5)
    assert budget.committed_usd == 0.0


def test_budget_does_not_refuse_on_float_rounding() -> None:
    """0.1 + 0.2 is 0.30000000000000004 in floats; a $0.30 limit still fits it."""
    budget = Budget(limit_usd=0.3)
    budget.start(0.1)
    assert budget.can_start(0.2)


def test_budget_counts_unpriced_jobs_as_free_but_remembers_them() -> None:
    """An unknown estimate never blocks a job; the budget counts it and says so."""
    budget = Budget(limit_usd=0.5, spent_usd=0.5)
    assert budget.can_start(None)
    budget.start(None)
    budget.finish(None, None)
    assert (budget.spent_usd, budget.committed_usd, budget.unpriced_jobs) == (0.5, 0.0, 1)
    budget.start(None)
    budget.finish(None, 0.2)  # priced after the fact from its usage
    assert budget.spent_usd == pytest.approx(0.7)
    assert budget.describe() == (
        "cost: $0.70 of $0.50 limit (2 jobs could not be priced and counted as free)"
    )


def test_budget_describe_shows_money_in_flight() -> None:
    """The summary line names what jobs in flight are expected to add."""
    budget = Budget(limit_usd=5.0, spent_usd=4.1)
    budget.start(0.3)
    assert budget.describe() == "cost: $4.10 of $5.00 limit, $0.30 in flight"


@pytest.mark.parametrize("limit", [-1.0, float("nan"), float("inf")])
def test_budget_rejects_a_meaningless_limit(limit: float) -> None:
    """Negative, NaN or infinite limits are programming errors, caught at construction."""
    with pytest.raises(ValueError, match="non-negative"):
        Budget(limit_usd=limit)
