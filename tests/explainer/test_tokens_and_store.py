"""Explainer tokens (sign, verify, expiry, forgery) and the evidence store (write, read, purge)."""
from __future__ import annotations

import time
import zlib

import pytest
from itsdangerous import URLSafeTimedSerializer

from cds_hooks.explainer import evidence
from cds_hooks.explainer.tokens import TOKEN_SALT, ExpiredToken, ExplainerClaims, ExplainerTokens, InvalidToken
from cds_hooks.store import ExplainerRow, Store, sqlite_url

SECRET = "s" * 40
TTL = 3600.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_signed_token_verifies_to_its_claims():
    tokens = ExplainerTokens(SECRET, TTL)
    claims = ExplainerClaims("key-abc", 3, int(time.time()))
    assert tokens.verify(tokens.sign(claims)) == claims


def test_a_token_is_the_one_the_serializer_writes(monkeypatch):
    """``sign`` skips the serializer's compression attempt and keeps one signer: same token, byte for byte, for keys
    as the recorder draws them (a compressible key would give an uncompressed token, which verifies the same)."""
    import hashlib
    import secrets

    from itsdangerous import TimestampSigner

    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_123)
    tokens = ExplainerTokens(SECRET, TTL, clock=Clock())
    serializer = URLSafeTimedSerializer(SECRET, salt=TOKEN_SALT, signer_kwargs={"digest_method": hashlib.sha256})
    for slot in range(200):
        claims = ExplainerClaims(secrets.token_urlsafe(24), slot, 1_800_000_000 + slot)
        token = tokens.sign(claims)
        assert token == serializer.dumps({"c": claims.call_key, "s": claims.slot, "t": claims.issued_at})
        assert tokens.verify(token) == claims
    squeezable = ExplainerClaims("a" * 64, 0, 1_800_000_000)
    assert serializer.dumps({"c": "a" * 64, "s": 0, "t": 1_800_000_000}).startswith(".")  # dumps compresses it
    assert tokens.verify(tokens.sign(squeezable)) == squeezable


def test_a_token_expires_ttl_after_the_call_and_not_before():
    clock = Clock()
    tokens = ExplainerTokens(SECRET, TTL, clock=clock)
    token = tokens.sign(ExplainerClaims("key", 0, int(clock.now)))
    clock.now += TTL - 1
    assert tokens.verify(token).call_key == "key"
    clock.now += 2
    with pytest.raises(ExpiredToken):
        tokens.verify(token)


def test_a_tampered_token_is_invalid_not_expired():
    clock = Clock()
    tokens = ExplainerTokens(SECRET, TTL, clock=clock)
    token = tokens.sign(ExplainerClaims("key", 0, int(clock.now)))
    payload, rest = token.split(".", 1)
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + rest
    clock.now += 10 * TTL  # even long past expiry, a forgery is reported as a forgery
    for bad in (forged, token[:-3], token + "x"):
        with pytest.raises(InvalidToken):
            tokens.verify(bad)


def test_another_secret_or_another_salt_does_not_make_a_token():
    claims = ExplainerClaims("key", 0, int(time.time()))
    other = ExplainerTokens("t" * 40, TTL).sign(claims)
    with pytest.raises(InvalidToken):
        ExplainerTokens(SECRET, TTL).verify(other)
    same_secret_other_use = URLSafeTimedSerializer(SECRET, salt="something-else").dumps({"c": "key", "s": 0, "t": 1})
    with pytest.raises(InvalidToken):
        ExplainerTokens(SECRET, TTL).verify(same_secret_other_use)


@pytest.mark.parametrize("payload", [["key", 0, 1], {"c": "", "s": 0, "t": 1}, {"c": "k", "s": -1, "t": 1},
                                     {"c": "k", "s": True, "t": 1}, {"c": "k", "s": 0}, {"c": 5, "s": 0, "t": 1}])
def test_a_genuinely_signed_payload_of_the_wrong_shape_is_invalid(payload):
    import hashlib

    serializer = URLSafeTimedSerializer(SECRET, salt=TOKEN_SALT, signer_kwargs={"digest_method": hashlib.sha256})
    with pytest.raises(InvalidToken):
        ExplainerTokens(SECRET, TTL).verify(serializer.dumps(payload))


@pytest.mark.parametrize("junk", ["", "x", "a.b.c", "é" * 10, "A" * 600, None, 12])
def test_junk_is_invalid(junk):
    with pytest.raises(InvalidToken):
        ExplainerTokens(SECRET, TTL).verify(junk)


def test_a_short_secret_or_no_lifetime_is_refused():
    with pytest.raises(ValueError):
        ExplainerTokens("short", TTL)
    with pytest.raises(ValueError):
        ExplainerTokens(SECRET, 0)


# -- store -------------------------------------------------------------------------------------------------------------

@pytest.fixture
def store(database):
    made = database.store()
    yield made
    made.dispose()


def _row(key: str, expires_at: float, payload: bytes = b'{"v":1}') -> ExplainerRow:
    return ExplainerRow(key=key, created_at=expires_at - TTL, expires_at=expires_at, service_id="svc",
                        encoding=evidence.ENCODING_JSON, payload=payload)


def test_a_stored_call_reads_back_whole(store):
    document = {"v": evidence.PAYLOAD_VERSION, "findings": [{"title": "x" * 5000}], "slots": [[0]]}
    encoding, payload = evidence.encode(document)
    assert encoding == evidence.ENCODING_ZLIB and len(payload) < 1000  # large rows are compressed
    store.save_explainer(ExplainerRow("k1", 1.0, time.time() + TTL, "svc", encoding, payload))
    row = store.explainer("k1")
    assert row is not None and row.service_id == "svc"
    assert evidence.decode(row.encoding, row.payload) == document
    assert store.explainer("unknown") is None


def test_findings_that_share_their_inputs_are_recorded_as_each_alone():
    """capture makes each shared evidence record once (a rule carries the scores it read, with their inputs): the
    document is the one made finding by finding."""
    import json

    from cds_hooks.config import load_config
    from cds_hooks.declaration import SERVICES
    from cds_hooks.processing import process_hook
    from cds_hooks.services import load_all
    from tests.conftest import TEST_AS_OF, load_fixture

    load_all()
    outcome = process_hook(SERVICES.get("cardiovascular-risk"), load_fixture("hooks/patient-view-prefetch.json"),
                           load_config({"AS_OF": TEST_AS_OF, "WARM_MODELS": False}))
    inputs = [id(e) for f in outcome.findings for e in f.inputs]
    assert len(set(inputs)) < len(inputs)  # the case in point: evidence held by several findings
    shared: dict = {}
    together = [evidence.finding_record(f, shared) for f in outcome.findings]
    assert json.dumps(together) == json.dumps([evidence.finding_record(f) for f in outcome.findings])


def test_small_payloads_are_stored_uncompressed():
    encoding, payload = evidence.encode({"v": evidence.PAYLOAD_VERSION})
    assert encoding == evidence.ENCODING_JSON and payload.startswith(b"{")


@pytest.mark.parametrize("encoding,payload", [("json+zlib", b"not zlib"), ("json", b"\xff\xfe"), ("json", b"[1]"),
                                              ("json", b'{"v": 99}'), ("gzip", zlib.compress(b"{}"))])
def test_an_unreadable_row_is_a_value_error(encoding, payload):
    with pytest.raises(ValueError):
        evidence.decode(encoding, payload)


def test_purge_deletes_expired_rows_only(store):
    now = time.time()
    store._next_explainer_purge = now + 3600  # no purge on write here: this test purges explicitly
    store.save_explainer(_row("old", now - 5))
    store.save_explainer(_row("new", now + 3600))
    assert store.explainer("old") is not None
    assert store.purge_explainers(now) == 1
    assert store.explainer("old") is None and store.explainer("new") is not None
    assert store.purge_explainers(now + 7200) == 1
    assert store.explainer("new") is None


def test_writing_a_call_purges_expired_rows_now_and_then(store):
    now = time.time()
    store._next_explainer_purge = now + 3600  # a purge ran a moment ago: this write leaves the expired row
    store.save_explainer(_row("expired", now - 1))
    store.save_explainer(_row("fresh-1", now + 3600))
    assert store.explainer("expired") is not None
    store._next_explainer_purge = 0.0  # the purge interval has passed: the next write purges
    store.save_explainer(_row("fresh-2", now + 3600))
    assert store.explainer("expired") is None
    assert store.explainer("fresh-1") is not None and store.explainer("fresh-2") is not None


def test_the_relaxed_write_leaves_the_connection_fully_synchronous(tmp_path):
    store = Store(sqlite_url(tmp_path))  # SQLite's setting: PostgreSQL has no relaxed write
    store.save_explainer(_row("k", time.time() + 10))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL, for feedback, audit and replay
    store.dispose()


def test_a_failed_write_leaves_nothing_and_the_connection_usable(store):
    from sqlalchemy.exc import IntegrityError

    store.save_explainer(_row("dup", time.time() + 10))
    with pytest.raises(IntegrityError):
        store.save_explainer(_row("dup", time.time() + 10))
    store.save_explainer(_row("after", time.time() + 10))
    assert store.explainer("after") is not None


@pytest.mark.parametrize("field", ["inputs", "missing", "input_problems", "explanation", "measures", "mentions"])
def test_a_collection_that_is_none_raises_as_it_always_did(field):
    """finding_record skips the comprehension of an empty collection (its default, the empty tuple) only: a None is
    no collection, and raises TypeError as iterating it always did; a list, even empty, is read as before."""
    from dataclasses import replace

    from engine.finding import Citation, Finding, Kind, Status

    finding = Finding(id="f", engine_id="e", engine_version="1", kind=Kind.RISK, status=Status.COMPUTED, title="t",
                      citation=Citation(short="s", full="S"))
    with pytest.raises(TypeError):
        evidence.finding_record(replace(finding, **{field: None}))
    assert evidence.finding_record(replace(finding, **{field: []}))[field] == []
    assert evidence.finding_record(finding)[field] == []
