import sqlite3

import pytest

from tars.services.memory.ranking import fts_match_expression, reciprocal_rank_fusion


def test_rrf_sums_reciprocal_ranks_with_k() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    assert [key for key, _ in fused] == ["a", "c", "b"]
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)


def test_rrf_document_in_both_lists_beats_a_single_top_rank() -> None:
    fused = reciprocal_rank_fusion([["solo", "both"], ["both"]], k=60)
    assert fused[0][0] == "both"


def test_rrf_of_nothing_is_empty() -> None:
    assert reciprocal_rank_fusion([[], []]) == []


def test_fts_expression_drops_stopwords_and_quotes_terms() -> None:
    assert fts_match_expression("What is my sister's NAME?") == '("sister" AND "name")'
    assert fts_match_expression("what is it") is None
    assert fts_match_expression("Subaru") == '("subaru")'


def test_fts_expression_requires_a_majority_of_terms() -> None:
    expression = fts_match_expression("red green blue")
    assert expression is not None
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='porter unicode61')")
        conn.executemany(
            "INSERT INTO t (body) VALUES (?)",
            [("red apples",), ("red and green lights",), ("green blue sea",), ("nothing",)],
        )
        rows = {r[0] for r in conn.execute("SELECT body FROM t WHERE t MATCH ?", (expression,))}
    finally:
        conn.close()
    assert rows == {"red and green lights", "green blue sea"}


def test_fts_expression_caps_terms_keeping_the_longest() -> None:
    expression = fts_match_expression("aa bb cc dd ee ff gg hhhh iiiii", max_terms=3)
    assert expression is not None
    assert '"hhhh"' in expression
    assert '"iiiii"' in expression
    assert '"bb"' not in expression
