"""API keys: created once, stored as a hash, listed without secrets, revoked."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from memstrata import Memory
from memstrata.errors import ConfigError, InvalidInput, NotFound
from memstrata.server.cli import keys_app, mcp_command, serve_command
from memstrata.server.keys import KeyRing, create_key, digest, list_keys, revoke_key
from memstrata.store import sqlite as sqlite_store
from memstrata.store.sqlite import SQLiteStore


def test_create_list_revoke(db_path: Path) -> None:
    key_id, secret = create_key(db_path, "acme", label="support bot")
    other_id, _ = create_key(db_path, "beta")
    assert secret.startswith(f"ms_{key_id}_") and len(secret) > 50
    listed = list_keys(db_path)
    assert [(k.id, k.namespace, k.label, k.revoked_at) for k in listed] == [
        (key_id, "acme", "support bot", None),
        (other_id, "beta", None, None),
    ]
    assert set(listed[0].to_dict()) == {"id", "namespace", "label", "created_at", "revoked_at"}
    revoked = revoke_key(db_path, key_id)
    assert revoked.revoked_at is not None
    assert revoke_key(db_path, key_id).revoked_at == revoked.revoked_at  # the first time stays
    assert [k.revoked_at is None for k in list_keys(db_path)] == [False, True]
    with pytest.raises(NotFound, match="no API key"):
        revoke_key(db_path, "0000")


def test_bad_key_requests_are_refused(db_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="namespace"):
        create_key(db_path, "")
    with pytest.raises(InvalidInput, match="label"):
        create_key(db_path, "acme", label="line\nbreak")
    with pytest.raises(ConfigError, match="no store"):
        list_keys(tmp_path / "missing.db")


def test_only_a_hash_is_stored(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as memory:
        memory.add("something to keep")
        _, secret = create_key(memory.store, "acme")
        _, from_path = create_key(db_path, "beta")  # a second connection, as the CLI makes
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    raw = b"".join(p.read_bytes() for p in files)
    for key in (secret, from_path):
        assert key.encode() not in raw
        assert key.split("_", 2)[2].encode() not in raw  # not even the random part
    hashes = {row[0] for row in sqlite3.connect(db_path).execute("SELECT hash FROM api_keys")}
    assert hashes == {digest(secret), digest(from_path)}


def test_keyring_answers_the_namespace_of_live_keys(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        key_id, secret = create_key(store, "acme")
        ring = KeyRing(store)
        assert ring.namespace_of(secret) == "acme"
        for wrong in [
            "",
            "ms",
            secret + "x",
            secret[:-1],
            f"ms_{key_id}_guess",
            "Bearer " + secret,
        ]:
            assert ring.namespace_of(wrong) is None, wrong
        revoke_key(db_path, key_id)  # through another connection
        revoked_at = time.monotonic()
        while ring.namespace_of(secret) is not None:
            assert time.monotonic() - revoked_at < 1.0
            time.sleep(0.01)
    finally:
        store.close()


def test_a_schema_3_file_gets_the_key_table_by_migration(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_store, "SCHEMA_VERSION", 3)
        Memory(db_path, embedder="hash").close()
    with pytest.raises(ConfigError, match="memstrata migrate"):
        create_key(db_path, "acme")
    Memory(db_path, embedder="hash", migrate=True).close()
    create_key(db_path, "acme")
    assert len(list_keys(db_path)) == 1


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("serve")(serve_command)
    app.command("mcp")(mcp_command)
    app.add_typer(keys_app, name="keys")
    return app


def test_keys_commands(db_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        _cli(), ["keys", "create", "-n", "acme", "--label", "bot", "--db", str(db_path)]
    )
    assert created.exit_code == 0, created.output
    shown = json.loads(created.stdout)  # piped: JSON, as the main CLI prints
    assert shown["namespace"] == "acme" and shown["key"].startswith(f"ms_{shown['id']}_")
    listed = runner.invoke(_cli(), ["keys", "list", "--db", str(db_path)])
    assert listed.exit_code == 0, listed.output
    [key] = json.loads(listed.stdout)["keys"]
    assert key["id"] == shown["id"] and key["label"] == "bot" and key["revoked_at"] is None
    assert shown["key"] not in listed.stdout and "hash" not in key
    revoked = runner.invoke(_cli(), ["keys", "revoke", shown["id"], "--db", str(db_path)])
    assert revoked.exit_code == 0 and json.loads(revoked.stdout)["revoked_at"]
    missing = runner.invoke(_cli(), ["keys", "revoke", "nope", "--db", str(db_path)])
    assert missing.exit_code == 3 and "no API key" in missing.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.com", "::"])
def test_no_auth_is_refused_off_loopback(db_path: Path, host: str) -> None:
    result = CliRunner().invoke(
        _cli(), ["serve", "--no-auth", "--host", host, "--db", str(db_path), "--embedder", "hash"]
    )
    assert result.exit_code == 2
    assert "loopback" in result.stderr and "keys create" in result.stderr
    assert not db_path.exists()  # refused before anything was opened


def test_loopback_hosts() -> None:
    pytest.importorskip("fastapi")
    from memstrata.server.http import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "localhost.evil.com", ""]))
