"""Identity (PROTOCOL §1): login, refresh, expiry, revocation, rate limits, socket connects."""

from __future__ import annotations

import asyncio

import pytest

from core.clock import FakeClock
from tests.conftest import Api, NodeFactory


async def test_login_with_the_demo_password_returns_tokens_and_the_user(api: Api) -> None:
    body = await api.login("staff01")
    assert body["user"] == {"id": "staff01", "username": "staff01", "name": body["user"]["name"],
                            "dept_id": "office", "title": "科员", "roles": ["staff"]}
    assert body["token"] and body["refresh_token"] and body["expires_at"].endswith("Z")
    status, me = await api.call("GET", "/api/v1/auth/me", token=body["token"])
    assert status == 200 and me["user"]["id"] == "staff01"


async def test_a_wrong_password_or_unknown_user_is_unauthorized(api: Api) -> None:
    for username, password in (("staff01", "wrong"), ("nobody", "demo")):
        status, body = await api.call("POST", "/api/v1/auth/login",
                                      {"username": username, "password": password})
        assert status == 401
        assert body["error"]["code"] == "unauthorized"
        assert body["error"]["message"] == "wrong username or password"


@pytest.mark.parametrize("username", [{"$ne": None}, {"$gt": ""}, ["staff01"], 1])
async def test_an_operator_as_username_is_a_bad_request_not_a_login(api: Api,
                                                                   username: object) -> None:
    status, body = await api.call("POST", "/api/v1/auth/login",
                                  {"username": username, "password": "demo"})
    assert status == 400
    assert body["error"]["code"] == "bad_request"
    assert "username" in body["error"]["message"]
    assert "token" not in body


async def test_malformed_json_and_unknown_fields_are_bad_requests(api: Api) -> None:
    status, body = await api.call("POST", "/api/v1/auth/login", raw=b"{not json")
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = await api.call("POST", "/api/v1/auth/login",
                                  {"username": "staff01", "password": "demo", "admin": True})
    assert status == 400 and "admin" in body["error"]["message"]


async def test_repeated_failures_for_one_user_are_rate_limited(api: Api) -> None:
    for _ in range(5):  # the test config allows 5 failures per window
        status, _ = await api.call("POST", "/api/v1/auth/login",
                                   {"username": "staff02", "password": "nope"})
        assert status == 401
    status, body = await api.call("POST", "/api/v1/auth/login",
                                  {"username": "staff02", "password": "demo"})
    assert status == 429
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["details"]["retry_after_ms"] > 0
    # Other users are not affected by one user's lock.
    await api.login("staff03")


async def test_failures_from_one_address_are_rate_limited_across_users(
        start_node: NodeFactory, http) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(login_max_per_address=3)
    api = Api(node.url, http)
    for name in ("staff04", "staff05", "staff06"):
        status, _ = await api.call("POST", "/api/v1/auth/login",
                                   {"username": name, "password": "nope"})
        assert status == 401
    status, body = await api.call("POST", "/api/v1/auth/login",
                                  {"username": "staff07", "password": "demo"})
    assert status == 429 and body["error"]["code"] == "rate_limited"


async def test_refresh_gives_a_new_working_pair(api: Api) -> None:
    first = await api.login("staff01")
    status, second = await api.call("POST", "/api/v1/auth/refresh",
                                    {"refresh_token": first["refresh_token"]})
    assert status == 200 and second["token"] != first["token"]
    status, _ = await api.call("GET", "/api/v1/auth/me", token=second["token"])
    assert status == 200
    # An access token is not a refresh token.
    status, body = await api.call("POST", "/api/v1/auth/refresh",
                                  {"refresh_token": first["token"]})
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_access_tokens_expire_on_the_clock(start_node: NodeFactory, http,  # type: ignore[no-untyped-def]
                                                fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock, access_token_ttl=600)
    api = Api(node.url, http)
    token = await api.token("staff01")
    await fake_clock.advance(599)
    status, _ = await api.call("GET", "/api/v1/auth/me", token=token)
    assert status == 200
    await fake_clock.advance(2)
    status, body = await api.call("GET", "/api/v1/auth/me", token=token)
    assert status == 401 and "expired" in body["error"]["message"]


async def test_forged_and_tampered_tokens_are_refused(api: Api) -> None:
    token = await api.token("staff01")
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload[:-2]}AA.{signature}"
    for bad in ("garbage", tampered, token[:-3] + "abc", "Bearer"):
        status, body = await api.call("GET", "/api/v1/auth/me", token=bad)
        assert status == 401 and body["error"]["code"] == "unauthorized"
    status, _ = await api.call("GET", "/api/v1/auth/me")
    assert status == 401


async def test_a_password_change_revokes_older_tokens(api: Api) -> None:
    old = await api.login("staff01")
    status, new = await api.call("POST", "/api/v1/auth/password",
                                 {"old_password": "demo", "new_password": "a-new-secret"},
                                 token=old["token"])
    assert status == 200
    status, _ = await api.call("GET", "/api/v1/auth/me", token=old["token"])
    assert status == 401
    status, _ = await api.call("POST", "/api/v1/auth/refresh",
                               {"refresh_token": old["refresh_token"]})
    assert status == 401
    status, _ = await api.call("GET", "/api/v1/auth/me", token=new["token"])
    assert status == 200
    await api.login("staff01", "a-new-secret")


async def test_only_admins_revoke_and_revocation_kills_tokens(api: Api) -> None:
    staff = await api.token("staff01")
    status, body = await api.call("POST", "/api/v1/admin/users/staff02/revoke", token=staff)
    assert status == 403 and body["error"]["code"] == "forbidden"
    victim = await api.token("staff02")
    admin = await api.token("admin")
    status, _ = await api.call("POST", "/api/v1/admin/users/staff02/revoke", token=admin)
    assert status == 200
    status, _ = await api.call("GET", "/api/v1/auth/me", token=victim)
    assert status == 401
    status, body = await api.call("POST", "/api/v1/admin/users/ghost/revoke", token=admin)
    assert status == 404


async def test_tokens_are_valid_on_every_node_of_a_deployment_without_a_configured_secret(
        start_node: NodeFactory, http) -> None:  # type: ignore[no-untyped-def]
    a, b = await asyncio.gather(start_node(secret_key=None, node_id="a"),
                                start_node(secret_key=None, node_id="b"))
    token = await Api(a.url, http).token("staff01")
    status, _ = await Api(b.url, http).call("GET", "/api/v1/auth/me", token=token)
    assert status == 200
