import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tars.services.memory.embedder import HashingEmbedder
from tars.services.memory.records import MemoryQuery, TurnRecord, estimate_tokens
from tars.services.memory.schema import SCHEMA_VERSION, SchemaError
from tars.services.memory.store import MemoryStore

T0 = 1_700_000_000.0


def _turn(i: int, user: str, reply: str = "Done.", satellite: str = "local") -> TurnRecord:
    return TurnRecord(user, reply, satellite, T0 + i, f"req-{i}")


FIXTURE_TURNS = [
    _turn(0, "turn on the kitchen lights", "Kitchen lights on."),
    _turn(1, "I parked the Subaru on level three", "Level three, noted."),
    _turn(2, "play some jazz in the living room", "Playing jazz."),
    _turn(3, "what is the capital of Peru", "Lima."),
    _turn(4, "set a timer for ten minutes", "Timer set for ten minutes."),
]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "mem" / "memory.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[MemoryStore]:
    with MemoryStore(db_path, HashingEmbedder(), batch_size=2) as opened:
        opened.add_turns(FIXTURE_TURNS)
        yield opened


def test_add_turns_returns_ids_in_order_and_counts(store: MemoryStore) -> None:
    ids = store.add_turns([_turn(10, "hello there"), _turn(11, "good night")])
    assert ids == [6, 7]
    stats = store.stats()
    assert (stats.turns, stats.facts) == (7, 0)


def test_add_turns_empty_batch_is_a_no_op(store: MemoryStore) -> None:
    assert store.add_turns([]) == []
    assert store.stats().turns == len(FIXTURE_TURNS)


def test_result_carries_turn_metadata(store: MemoryStore) -> None:
    hit = store.query(MemoryQuery("capital of Peru", top_k=1)).results[0]
    assert hit.user_text == "what is the capital of Peru"
    assert hit.reply == "Lima."
    assert hit.document == "User: what is the capital of Peru\nAssistant: Lima."
    assert (hit.kind, hit.satellite, hit.request_id, hit.ts) == ("turn", "local", "req-3", T0 + 3)
    assert hit.timestamp.startswith("2023-11-14T22:13:23")
    assert hit.context_type == "target"
    assert hit.token_count == estimate_tokens(hit.document)


def test_bm25_matches_stemmed_keyword_the_vectors_cannot(store: MemoryStore) -> None:
    # "parking" shares no hashed word with "parked"; only the porter-stemmed FTS
    # index links them.
    result = store.query(MemoryQuery("parking", top_k=5))
    assert result.results[0].user_text == "I parked the Subaru on level three"
    similarity = store.query(MemoryQuery("parking", top_k=5, retrieval_strategy="similarity"))
    cosine = {r.user_text: r.score for r in similarity.results}
    assert cosine.get("I parked the Subaru on level three", 0.0) == pytest.approx(0.0, abs=1e-6)


def test_fts_syntax_in_user_text_is_harmless(store: MemoryStore) -> None:
    for text in ['"unbalanced', "NEAR(kitchen lights)", "kitchen* -lights", "col:kitchen", "?!"]:
        store.query(MemoryQuery(text))


def test_recent_returns_newest_first_across_turns_and_facts(store: MemoryStore) -> None:
    store.add_fact("the wifi router is in the hallway", ts=T0 + 3.5)
    result = store.query(MemoryQuery("ignored", top_k=3, retrieval_strategy="recent"))
    assert [r.ts for r in result.results] == [T0 + 4, T0 + 3.5, T0 + 3]
    assert [r.kind for r in result.results] == ["turn", "fact", "turn"]
    assert all(r.score is None for r in result.results)
    assert result.strategy_used == "recent"


def test_similarity_scores_are_cosines_best_first(store: MemoryStore) -> None:
    result = store.query(
        MemoryQuery(
            "set a timer for ten minutes\nTimer set for ten minutes.",
            top_k=3,
            retrieval_strategy="similarity",
        )
    )
    scores = [r.score for r in result.results]
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_facts_are_retrieved(store: MemoryStore) -> None:
    fact_id = store.add_fact("my sister Ana lives in Lisbon", satellite="kitchen")
    hit = store.query(MemoryQuery("sister Ana Lisbon", top_k=1)).results[0]
    assert (hit.kind, hit.doc_id, hit.document, hit.satellite) == (
        "fact",
        fact_id,
        "my sister Ana lives in Lisbon",
        "kitchen",
    )
    assert hit.user_text is None


def test_token_budget_truncates_and_reports_totals(store: MemoryStore) -> None:
    full = store.query(MemoryQuery("lights jazz timer", top_k=5))
    assert not full.truncated
    assert full.total_tokens == sum(r.token_count for r in full.results)
    budget = full.results[0].token_count + full.results[1].token_count
    cut = store.query(MemoryQuery("lights jazz timer", top_k=5, max_tokens=budget))
    assert cut.truncated
    assert [r.doc_id for r in cut.results] == [r.doc_id for r in full.results[:2]]
    assert cut.total_tokens == budget


def test_budget_smaller_than_first_hit_returns_nothing(store: MemoryStore) -> None:
    result = store.query(MemoryQuery("capital of Peru", top_k=3, max_tokens=1))
    assert result.results == ()
    assert result.truncated
    assert result.total_tokens == 0


def test_include_context_adds_neighbours_on_the_same_satellite(db_path: Path) -> None:
    turns = [
        _turn(0, "first question about owls", satellite="office"),
        _turn(1, "kitchen chatter", satellite="kitchen"),
        _turn(2, "second question about penguins", satellite="office"),
        _turn(3, "third question about herons", satellite="office"),
    ]
    with MemoryStore(db_path, HashingEmbedder()) as store:
        store.add_turns(turns)
        result = store.query(
            MemoryQuery("penguins", top_k=1, include_context=True, context_window=1)
        )
    rows = [(r.user_text, r.context_type) for r in result.results]
    assert rows == [
        ("first question about owls", "previous"),
        ("second question about penguins", "target"),
        ("third question about herons", "next"),
    ]
    assert result.total_tokens == sum(r.token_count for r in result.results)


def test_reopen_keeps_turns_facts_and_vectors(db_path: Path) -> None:
    query = MemoryQuery("Subaru level three", top_k=2, retrieval_strategy="similarity")
    with MemoryStore(db_path, HashingEmbedder()) as store:
        store.add_turns(FIXTURE_TURNS)
        store.add_fact("the spare key is under the flower pot")
        before = store.query(query)
    with MemoryStore(db_path, HashingEmbedder()) as reopened:
        after = reopened.query(query)
        stats = reopened.stats()
    assert (stats.turns, stats.facts) == (5, 1)
    assert after == before


def test_reopen_with_another_embedder_is_refused(db_path: Path) -> None:
    with MemoryStore(db_path, HashingEmbedder(dim=384)) as store:
        store.add_turns(FIXTURE_TURNS[:1])
    with pytest.raises(SchemaError, match="hashing-64"):
        MemoryStore(db_path, HashingEmbedder(dim=64))


def test_schema_version_is_recorded_and_newer_files_refused(db_path: Path) -> None:
    MemoryStore(db_path, HashingEmbedder()).close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    finally:
        conn.close()
    with pytest.raises(SchemaError, match="newer"):
        MemoryStore(db_path, HashingEmbedder())


def test_insert_appends_a_few_pages_instead_of_rewriting(db_path: Path) -> None:
    many = [_turn(i, f"message number {i} about topic {i % 17}") for i in range(600)]
    with MemoryStore(db_path, HashingEmbedder()) as store:
        store.add_turns(many)
        probe = sqlite3.connect(db_path)
        try:
            probe.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            (fts_rows_before,) = probe.execute("SELECT count(*) FROM docs_fts").fetchone()
        finally:
            probe.close()
        wal = db_path.with_name(db_path.name + "-wal")
        db_size, inode = db_path.stat().st_size, db_path.stat().st_ino
        store.add_turns([_turn(1000, "one more message")])
        written = wal.stat().st_size
        assert store.stats().turns == 601
    probe = sqlite3.connect(db_path)
    try:
        (fts_rows_after,) = probe.execute("SELECT count(*) FROM docs_fts").fetchone()
    finally:
        probe.close()
    assert fts_rows_after == fts_rows_before + 1
    assert db_path.stat().st_ino == inode  # never replaced by a rewritten copy
    # One turn is a handful of 4 KiB pages in the WAL; a rewrite would be the whole file.
    assert 0 < written < db_size / 10
    assert not [n for n in dir(MemoryStore) if "index" in n.lower() or n.startswith("save")]


def test_concurrent_writers_and_readers(db_path: Path) -> None:
    with MemoryStore(db_path, HashingEmbedder()) as store:

        def write(worker: int) -> list[int]:
            return store.add_turns([_turn(worker * 100 + i, f"w{worker} m{i}") for i in range(25)])

        def read(_: int) -> int:
            return len(store.query(MemoryQuery("w1 m3")).results)

        with ThreadPoolExecutor(max_workers=4) as pool:
            written = list(pool.map(write, range(4)))
            reads = list(pool.map(read, range(8)))
        assert sorted(i for ids in written for i in ids) == list(range(1, 101))
        assert all(n > 0 for n in reads)
        assert store.stats().turns == 100


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_k": 0},
        {"top_k": 51},
        {"max_tokens": 0},
        {"context_window": 6},
        {"retrieval_strategy": "naive"},
    ],
)
def test_query_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        MemoryQuery("x", **kwargs)  # type: ignore[arg-type]
