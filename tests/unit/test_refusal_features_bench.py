"""The refusal-evidence bench's AUC: 1 when every unanswerable question scores below every
answerable one, 0.5 for a feature that says nothing, ties counted half."""

from __future__ import annotations

from ops.bench.refusal_features import auc, table


def test_auc_orders_unanswerable_below_answerable() -> None:
    assert auc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 1.0
    assert auc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 0.0
    assert auc([0.5, 0.5], [True, False]) == 0.5


def test_the_table_has_a_row_per_feature_and_per_equal_weight_sum() -> None:
    rows = [("tune", True, {"agreement": 0.1, "dense": 0.2, "coverage": 0.3, "idf_coverage": 0.1,
                            "unit_coverage": 0.2}),
            ("holdout", False, {"agreement": 0.9, "dense": 0.8, "coverage": 0.7,
                                "idf_coverage": 0.9, "unit_coverage": 0.8}),
            ("tune", False, {"agreement": 0.7, "dense": 0.6, "coverage": 0.9, "idf_coverage": 0.8,
                             "unit_coverage": 0.9}),
            ("holdout", True, {"agreement": 0.2, "dense": 0.1, "coverage": 0.2,
                               "idf_coverage": 0.3, "unit_coverage": 0.1})]
    lines = table(rows)
    assert "| agreement + dense | 1.000 | 1.000 | 1.000 |" in lines
    assert len(lines) == 2 + 5 + 4
