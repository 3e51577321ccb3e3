"""Formation through `Memory.add`: facts, episodes, profiles, topics and novelty, and
how derived memories follow their evidence (update, delete, purge, export/import)."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memstrata import ConfigError, Memory, Record
from memstrata.errors import BackendError
from memstrata.form import formation

DAY = "2023-05-08T13:56:00Z"  # a Monday
TURNS = [
    {"name": "Caroline",
     "content": "I went to a LGBTQ support group yesterday. It was so powerful!"},
    {"name": "Melanie", "content": "Wow, what did you learn there?"},
    {"name": "Caroline",
     "content": "I learned to accept myself. My friend Jo from Sweden came too."},
    {"name": "Melanie", "content": "I ran a charity race last Saturday. My kids cheered for me."},
    {"name": "Caroline", "content": "I'm thinking of working as a counselor next year."},
]  # fmt: skip


def add_chat(m: Memory, **kw: Any) -> list[Record]:
    return m.add(TURNS, user_id="u", session_id="s1", occurred_at=DAY, **kw)


def facts_of(m: Memory, turn: Record) -> list[Record]:
    return [f for f in m.list(user_id="u", kinds=["fact"]).records if f.source_ids == [turn.id]]


def test_facts_resolve_first_person_and_relative_times(memory: Memory) -> None:
    turns = add_chat(memory)
    [went, powerful] = sorted(facts_of(memory, turns[0]), key=lambda f: f.metadata["span"])
    assert went.text == "Caroline went to a LGBTQ support group yesterday (7 May 2023)."
    assert (went.valid_from, went.valid_to) == (
        "2023-05-07T00:00:00.000000Z",
        "2023-05-08T00:00:00.000000Z",
    )
    assert went.speaker == "Caroline" and went.occurred_at == turns[0].occurred_at
    assert "Caroline" in went.entities and "LGBTQ" in went.entities
    start, end = went.metadata["span"]
    assert turns[0].text[start:end] == "I went to a LGBTQ support group yesterday."
    assert powerful.text == "It was so powerful!" and powerful.valid_from is None
    # "last Saturday" said on Monday 8 May is 6 May; "my" is the speaker's.
    race = {f.text for f in facts_of(memory, turns[3])}
    assert "Melanie ran a charity race last Saturday (6 May 2023)." in race
    assert "Melanie's kids cheered for Melanie." in race
    # A question is not a fact; a week-long range keeps its whole week.
    assert facts_of(memory, turns[1]) == []
    [plan] = facts_of(memory, turns[4])
    assert plan.text.startswith("Caroline is thinking of working as a counselor next year (2024)")
    assert (plan.valid_from[:10], plan.valid_to[:10]) == ("2024-01-01", "2025-01-01")


def test_addressee_and_entities(memory: Memory) -> None:
    turns = add_chat(memory)
    texts = {f.text for f in facts_of(memory, turns[2])}
    assert "Caroline learned to accept Caroline." in texts
    jo = next(f for f in facts_of(memory, turns[2]) if "Jo" in f.text and "span" in f.metadata)
    assert jo.text == "Caroline's friend Jo from Sweden came too."
    # A reply is also read with the question it answers.
    [reply] = [f for f in facts_of(memory, turns[2]) if "answers" in f.metadata]
    assert reply.metadata["answers"] == turns[1].id
    assert reply.text.startswith("Wow, what did Caroline learn there? Caroline learned")
    assert {"Caroline", "Jo", "Sweden"} <= set(jo.entities)


def test_a_failing_extractor_never_blocks_the_add(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(formation, "statements", broken)
    with pytest.warns(UserWarning, match="formation failed on 5 of 5 events"):
        turns = add_chat(memory)
    assert [memory.get(t.id, user_id="u").text for t in turns] == [t["content"] for t in TURNS]
    assert memory.stats()["counters"]["formation_failures"] == 5
    assert memory.list(kinds=["fact"]).records == []
    # The raw turns are still found, by both indexes.
    hit = memory.search("support group", user_id="u", k=1)[0]
    assert hit.record.id == turns[0].id and set(hit.sources) >= {"bm25", "dense"}


@pytest.fixture
def episodic(db_path: Path) -> Iterator[Memory]:
    with Memory(db_path, embedder="hash", episodes=True) as m:
        yield m


def test_episodes_are_formed_only_when_asked_for(memory: Memory) -> None:
    add_chat(memory)
    assert memory.list(user_id="u", kinds=["episode"]).records == []
    assert memory.list(user_id="u", kinds=["fact"]).records


def test_episodes_summarise_sessions_and_grow_with_them(episodic: Memory) -> None:
    memory = episodic
    first = add_chat(memory)
    [episode] = memory.list(user_id="u", kinds=["episode"]).records
    assert episode.metadata["first"] == first[0].id and episode.metadata["last"] == first[-1].id
    # Provenance is precise: the summary names exactly the turns it quotes.
    assert 1 <= len(episode.source_ids) <= 3
    quoted = {t.id for t in first if t.text in episode.text}
    assert quoted == set(episode.source_ids)
    more = memory.add(
        [{"name": "Melanie", "content": "Counseling suits you, you listen so well."}],
        user_id="u",
        session_id="s1",
        occurred_at=DAY,
    )
    [grown] = memory.list(user_id="u", kinds=["episode"]).records  # revised, not doubled
    assert grown.id == episode.id and grown.version == 2
    assert grown.metadata["last"] == more[0].id and grown.metadata["events"] == 6
    ops = [e.op for e in memory.history(grown.id, user_id="u")]
    assert ops == ["add", "form"]
    links = memory.store.linked([t.id for t in first + more], "part_of")
    assert all(episode.id in links[t.id] for t in first + more)


def test_sessions_are_chained_turn_to_turn(memory: Memory) -> None:
    turns = add_chat(memory)
    later = memory.add("And one more thing.", user_id="u", session_id="s1", occurred_at=DAY)
    chain = memory.store.linked([t.id for t in turns], "next")
    assert [chain[a.id] for a in turns[:-1]] == [[b.id] for b in turns[1:]]
    assert chain[turns[-1].id] == [later[0].id]  # across adds too


def test_profiles_hold_salient_facts_and_open_the_context(memory: Memory) -> None:
    add_chat(memory)
    profiles = {p.metadata["entity"]: p for p in memory.list(kinds=["profile"]).records}
    caroline = profiles["caroline"]
    facts = memory.store.get_many(caroline.source_ids, memory.store_scope())
    assert facts and all(f.kind == "fact" and f.text in caroline.text for f in facts)
    assert caroline.text.startswith("Caroline: ") and caroline.scope.session_id is None
    # Its vector is its facts' centroid (its own text is never embedded again).
    vectors = memory.store.vectors_of([caroline.id, *caroline.source_ids])
    mean = np.mean([vectors[f] for f in caroline.source_ids], axis=0)
    assert float(vectors[caroline.id] @ (mean / np.linalg.norm(mean))) == pytest.approx(1.0)
    one = memory.context("support group", user_id="u", budget_tokens=1000)
    two = memory.context("charity race", user_id="u", budget_tokens=1000)
    assert one.parts[0].section == "profile" and one.parts[0].record_id == caroline.id
    prefix = [p.text for p in one.parts if p.section == "profile"]
    assert prefix == [p.text for p in two.parts if p.section == "profile"]  # stable
    assert sum(p.tokens for p in one.parts if p.section == "profile") <= 1000 * 0.15
    relevant = next(p for p in one.parts if p.section == "relevant")
    assert "yesterday (7 May 2023)" in relevant.text  # dated for the reader


def test_novelty_sets_a_new_memorys_salience(memory: Memory) -> None:
    [a] = memory.add("the lighthouse keeper polished the brass lamp", user_id="u")
    [b] = memory.add("the lighthouse keeper polished the brass lamp", user_id="u")
    [c] = memory.add("quarterly tax forms are due for the bakery", user_id="u")
    assert a.salience == 1.0  # nothing stored yet
    assert b.salience < 0.05 < c.salience


def test_delete_update_and_purge_reach_derived_memories(memory: Memory, db_path: Path) -> None:
    turns = add_chat(memory)
    went = facts_of(memory, turns[0])
    memory.update(turns[0].id, text="I skipped the group yesterday.", user_id="u")
    assert all(memory.store.get_many([f.id], memory.store_scope()) == [] or
               memory.history(f.id)[-1].op == "delete" for f in went)  # fmt: skip
    [new] = facts_of(memory, turns[0])
    assert new.text == "Caroline skipped the group yesterday (7 May 2023)."
    memory.delete(turns[3].id, user_id="u")
    assert facts_of(memory, turns[3]) == []
    profile = next(p for p in memory.list(kinds=["profile"]).records
                   if p.metadata["entity"] == "caroline")  # fmt: skip
    held = set(profile.source_ids)
    victim = next(t for t in turns if held & {f.id for f in facts_of(memory, t)})
    carried = [f.text for f in facts_of(memory, victim)]
    memory.purge(victim.id, user_id="u")
    raw = sqlite3.connect(db_path)
    for text in carried:  # the erased words are nowhere: not in facts, not in profiles
        rows = raw.execute("SELECT id, status FROM records WHERE text LIKE ?", (f"%{text}%",))
        assert rows.fetchall() == []
    assert memory.history(profile.id, user_id="u")[-1].op == "purge"


def test_import_rebuilds_links_so_purge_still_reaches_facts(memory: Memory, tmp_path: Path) -> None:
    turns = add_chat(memory)
    buffer = io.StringIO()
    memory.export(buffer)
    buffer.seek(0)
    with Memory(tmp_path / "copy.db", embedder="hash") as copy:
        assert copy.import_(buffer) == memory.stats()["records"]
        assert len(copy.store.linked([t.id for t in turns], "next")) == len(turns) - 1
        facts = [f.id for f in copy.list(kinds=["fact"]).records if f.source_ids == [turns[0].id]]
        assert facts
        copy.purge(turns[0].id, user_id="u")
        assert {copy.history(f)[-1].op for f in facts} == {"purge"}


def test_settings_switch_mechanisms_and_are_checked(db_path: Path) -> None:
    with Memory(db_path, embedder="hash", facts=False, episodes=False) as m:
        add_chat(m)
        kinds = m.stats()["by_kind"]
        assert set(kinds) == {"event"}  # no facts, so no profiles either
        assert m.settings.facts is False and m.settings.text_weight == 0.5
    with pytest.raises(ConfigError, match=r"unknown setting 'fact'.*facts"):
        Memory(db_path, embedder="hash", fact=False)
    with pytest.raises(ConfigError, match="'text_weight' expects float"):
        Memory(db_path, embedder="hash", settings={"text_weight": "high"})
    with pytest.raises(ConfigError, match="must not be negative"):
        Memory(db_path, embedder="hash", name_boost=-1)


def test_formation_is_quiet_on_ordinary_input(memory: Memory) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        add_chat(memory)
        memory.add(["😀😀", "ok", "?", "x" * 5000], user_id="u", session_id="s2")
    # Only what formation did, no failure: a statement whose claim it could not read.
    assert set(memory.stats()["counters"]) <= {"facts_without_claims"}


def test_flat_search_sees_records_as_stored_unless_asked(memory: Memory) -> None:
    turns = add_chat(memory)
    for strategy in ("dense", "hybrid"):
        hits = memory.search("support group", user_id="u", strategy=strategy, k=50)
        assert {h.record.id for h in hits} == {t.id for t in turns}
    facts = memory.search("support group", user_id="u", strategy="dense", kinds=["fact"], k=50)
    assert facts and all(h.record.kind == "fact" and h.record.source_ids for h in facts)


def test_a_long_document_makes_a_bounded_number_of_facts(memory: Memory) -> None:
    sentences = [f"The report lists finding number {i} about the bridge." for i in range(500)]
    [doc] = memory.add(" ".join(sentences), user_id="u")
    facts = [f for f in memory.list(user_id="u", kinds=["fact"], limit=1000).records]
    assert 0 < len(facts) <= formation.MAX_FACTS_PER_EVENT
    assert all(f.source_ids == [doc.id] for f in facts)
    assert memory.search("finding number 499", user_id="u", k=1)[0].record.id == doc.id


def test_background_formation_matches_inline_and_flushes(tmp_path: Path) -> None:
    texts = {}
    for background in (False, True):
        with Memory(tmp_path / f"b{background}.db", embedder="hash",
                    background_formation=background, episodes=True) as m:  # fmt: skip
            first = add_chat(m)
            more = m.add([{"name": "Melanie", "content": "I painted a lake last week."}],
                         user_id="u", session_id="s1", occurred_at=DAY)  # fmt: skip
            assert m.flush(timeout=30)
            facts = m.list(user_id="u", kinds=["fact"], limit=100).records
            texts[background] = sorted(f.text for f in facts)
            [episode] = m.list(user_id="u", kinds=["episode"]).records
            assert episode.metadata["events"] == len(first) + len(more)
            assert set(m.stats()["counters"]) <= {"facts_without_claims"}  # no failure
    assert texts[True] == texts[False] and texts[True]


def test_queued_adds_are_formed_together_as_if_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adds that queue behind a slow formation run are formed in one batch, with the
    same facts ("you" still resolved across adds), episodes and profiles as inline."""
    turns = [(user, session, turn) for user, session in (("u", "s1"), ("v", "s2"))
             for turn in [*TURNS, {"name": "Melanie", "content": "You inspire me."}]]  # fmt: skip
    turns.sort(key=lambda t: TURNS.index(t[2]) if t[2] in TURNS else len(TURNS))  # interleaved
    run, calls, release = formation.Former.run, [], threading.Event()

    def slow_run(self: Any, events: Any, *args: Any) -> Any:
        calls.append(len(events))
        release.wait(30)
        return run(self, events, *args)

    seen = {}
    for background in (False, True):
        if background:
            monkeypatch.setattr(formation.Former, "run", slow_run)
            release.clear()
        with Memory(tmp_path / f"q{background}.db", embedder="hash",
                    background_formation=background) as m:  # fmt: skip
            for user, session, turn in turns:
                m.add([turn], user_id=user, session_id=session, occurred_at=DAY)
            release.set()
            assert m.flush(timeout=30)
            seen[background] = {
                kind: sorted((r.scope.user_id, r.text, r.metadata.get("events"))
                             for r in m.list(kinds=[kind], limit=100).records)
                for kind in ("fact", "episode", "profile")
            }  # fmt: skip
    assert calls == [1, len(turns) - 1]  # the first add, then all that queued behind it
    assert seen[True] == seen[False]
    assert ("v", "Caroline inspire Melanie.", None) in seen[True]["fact"]  # "you" across adds
    melanie = [text for user, text, _ in seen[True]["profile"] if text.startswith("Melanie: ")]
    assert len(melanie) == 2 and all("charity race" in text for text in melanie)


def test_close_finishes_background_formation(db_path: Path) -> None:
    m = Memory(db_path, embedder="hash", background_formation=True)
    add_chat(m)
    m.close()  # no flush: close runs what is queued
    with Memory(db_path, embedder="hash") as again:
        assert again.list(user_id="u", kinds=["fact"]).records


def _add_behind_the_first(
    memory: Memory, texts: list[str], committing: threading.Event
) -> dict[str, BaseException]:
    """Add each text from a thread of its own: the first, then the rest once the
    first add's commit has begun (`committing`), so that they queue behind it.
    Returns the errors the adds raised, by text."""
    errors: dict[str, BaseException] = {}

    def add(text: str) -> None:
        try:
            memory.add(text, user_id="u", session_id="s1")
        except Exception as exc:
            errors[text] = exc

    first = threading.Thread(target=add, args=(texts[0],))
    first.start()
    assert committing.wait(10)
    others = [threading.Thread(target=add, args=(t,)) for t in texts[1:]]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(30)
    return errors


def test_concurrent_adds_commit_together_and_a_failing_one_fails_alone(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adds that wait for the write lock are stored in one transaction; if that
    fails, each is stored on its own, so only the bad one raises; sessions still
    chain turn to turn in the order the adds were stored."""
    insert_many, sizes = memory.store.insert_many, []
    inside = threading.Event()

    def insert(batches: Any, **kwargs: Any) -> None:
        sizes.append(len(batches))
        if len(sizes) == 1:  # hold the first commit until the others queue behind it
            inside.set()
            time.sleep(0.3)
        if any(r.text == "poison" for records, *_ in batches for r in records):
            raise sqlite3.OperationalError("disk I/O error")
        insert_many(batches, **kwargs)

    monkeypatch.setattr(memory.store, "insert_many", insert)
    texts = [f"turn {n} about the lake" for n in range(8)] + ["poison"]
    errors = _add_behind_the_first(memory, texts, inside)
    assert list(errors) == ["poison"]
    assert sizes[:2] == [1, len(texts) - 1]  # the queued adds went in together, failed
    stored = memory.list(user_id="u", kinds=["event"], limit=100).records
    assert sorted(r.text for r in stored) == sorted(texts[:-1])
    chain = memory.store.linked([r.id for r in stored], "next")
    assert all(len(after) == 1 for after in chain.values())
    heads = {r.id for r in stored} - {after[0] for after in chain.values()}
    path = [*heads]
    while path[-1] in chain:
        path.append(chain[path[-1]][0])
    assert len(heads) == 1 and sorted(path) == sorted(r.id for r in stored)  # one chain


def test_a_long_session_is_cut_into_bounded_episodes(
    episodic: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = episodic
    monkeypatch.setattr(formation, "EPISODE_MAX_TURNS", 4)
    for n in range(10):  # one topic throughout: only the bound cuts it
        memory.add(f"We talked about the lake again, part {n}.", user_id="u", session_id="s1")
    episodes = memory.list(user_id="u", kinds=["episode"], limit=10).records
    assert sorted(e.metadata["events"] for e in episodes) == [2, 4, 4]
    turns = memory.list(user_id="u", kinds=["event"], limit=20).records
    parts = memory.store.linked([t.id for t in turns], "part_of")
    assert all(len([p for p in parts[t.id] if not p.startswith("topic:")]) == 1 for t in turns)


def test_a_formation_error_never_fails_a_stored_add(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inline formation of a group-committed batch: an add whose formation fails
    after its turns are committed returns them (a caller told it failed would store
    it again); the failure is counted and warned about, and its mark stays for the
    next process. Every add's turn is stored exactly once."""
    insert_many, held = memory.store.insert_many, threading.Event()
    form = memory._formations.form

    def insert(batches: Any, **kwargs: Any) -> None:
        if not held.is_set():  # hold the first commit until the others queue
            held.set()
            time.sleep(0.3)
        insert_many(batches, **kwargs)

    def failing_form(job: Any) -> None:
        if job.records[0].text == "bad formation":
            raise BackendError("the disk is full")
        form(job)

    monkeypatch.setattr(memory.store, "insert_many", insert)
    monkeypatch.setattr(memory._formations, "form", failing_form)
    texts = ["first turn", "bad formation", *(f"turn {n} about trains" for n in range(5))]
    with pytest.warns(UserWarning, match="formation of 1 stored turns failed.*disk is full"):
        errors = _add_behind_the_first(memory, texts, held)
    assert errors == {}
    stored = memory.list(user_id="u", kinds=["event"], limit=100).records
    assert sorted(r.text for r in stored) == sorted(texts)  # each once, the bad one too
    assert memory.stats()["counters"]["formation_failures"] == 1
    owed = memory._formations.marks()
    assert [m.ids for m in owed] == [[r.id for r in stored if r.text == "bad formation"]]


def _file_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.is_file())


SECRET = {"name": "Caroline", "content": "I moved to Zanzibarville last spring with my cat Quux."}


@pytest.mark.parametrize("op", ["purge", "delete", "update", "feedback"])
def test_a_turn_changed_while_its_formation_is_queued_is_not_formed_as_it_was(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    """Background formation is held back by a search under way; meanwhile the turn is
    purged, deleted or updated: formation must not derive from the old turn. Feedback
    makes a new version with the same words: formation goes ahead."""
    from memstrata import memory as memory_module
    from memstrata.retrieve import layered

    search, searching, release = layered.search, threading.Event(), threading.Event()

    def held_search(*args: Any, **kwargs: Any) -> Any:
        searching.set()
        release.wait(30)
        return search(*args, **kwargs)

    monkeypatch.setattr(layered, "search", held_search)
    monkeypatch.setattr(memory_module, "_FORMATION_DEFER_S", 30.0)
    with Memory(db_path, embedder="hash", background_formation=True) as m:
        waiting = threading.Thread(target=m.search, args=("anything",), kwargs={"user_id": "u"})
        waiting.start()
        assert searching.wait(10)
        [turn] = m.add([SECRET], user_id="u", session_id="s1", occurred_at=DAY)
        if op == "purge":
            m.purge(turn.id, user_id="u")
        elif op == "delete":
            m.delete(turn.id, user_id="u")
        elif op == "update":
            m.update(turn.id, text="I stayed home with my dog Rex.", user_id="u")
        else:  # a new version, the same words: formed as they are
            m.feedback(turn.id, True, user_id="u")
        release.set()
        waiting.join(30)
        assert m.flush(timeout=30)
        facts = [f.text for f in m.list(user_id="u", kinds=["fact"], limit=100).records]
    if op == "feedback":
        assert any("Zanzibarville" in text for text in facts)
        return
    assert not any("Zanzibarville" in text for text in facts)
    if op == "purge":
        assert b"Zanzibarville" not in _file_bytes(db_path)
    if op == "update":
        assert facts == ["Caroline stayed home with Caroline's dog Rex."]


def test_a_purge_during_formation_erases_what_that_formation_derives(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, forming, release = formation.Former.run, threading.Event(), threading.Event()

    def slow_run(self: Any, *args: Any) -> Any:
        forming.set()
        release.wait(30)
        return run(self, *args)

    monkeypatch.setattr(formation.Former, "run", slow_run)
    with Memory(db_path, embedder="hash", background_formation=True) as m:
        [turn] = m.add([SECRET], user_id="u", session_id="s1", occurred_at=DAY)
        assert forming.wait(10)
        purging = threading.Thread(target=m.purge, args=(turn.id,), kwargs={"user_id": "u"})
        purging.start()
        time.sleep(0.2)  # the purge waits for the formation under way
        release.set()
        purging.join(30)
        assert m.flush(timeout=30)
        assert m.list(user_id="u", kinds=["fact", "episode", "profile"]).records == []
    assert b"Zanzibarville" not in _file_bytes(db_path)
