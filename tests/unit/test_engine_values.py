"""The engine module's plain values, without an engine."""

from __future__ import annotations

from hubpub.engine import PushAuth


def test_push_credentials_never_show_in_a_repr() -> None:
    # A --debug traceback or a log line may print the object (secrets never leak).
    for auth in (PushAuth("alice", "s3cret-pw"), PushAuth("", "", identity_token="s3cret-tok")):
        text = f"{auth!r} {auth}"
        assert "s3cret" not in text
        assert "PushAuth(username=" in text
    assert PushAuth("alice", "pw").as_auth_config("reg")["password"] == "pw"
