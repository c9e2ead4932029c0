"""The token, Host and Origin rules, HTTPS files and the printed address."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import SecretStr

from tars.services.ui_web.access import Access, address, resolve_token, tls_files
from tars.services.ui_web.settings import UiWebSettings


def test_loopback_needs_no_token_and_beyond_it_one_is_made_once(tmp_path: Path) -> None:
    assert not UiWebSettings(host="127.0.0.1").beyond_loopback()
    assert not UiWebSettings(host="localhost").beyond_loopback()
    assert UiWebSettings(host="0.0.0.0").beyond_loopback()
    assert UiWebSettings(host="tars.lan").beyond_loopback()
    assert resolve_token(UiWebSettings(), tmp_path) is None
    wide = UiWebSettings(host="0.0.0.0")
    first = resolve_token(wide, tmp_path)
    assert first
    assert len(first) >= 24
    assert resolve_token(wide, tmp_path) == first  # kept for `tars up` and restarts
    token_file = tmp_path / "ui-web" / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    configured = UiWebSettings(host="0.0.0.0", token=SecretStr("mine"))
    assert resolve_token(configured, tmp_path) == "mine"


def test_access_checks() -> None:
    locked = Access("s3cret", beyond_loopback=True)
    assert locked.required
    assert locked.allowed("s3cret")
    assert not locked.allowed(None)
    assert not locked.allowed("s3cre")
    assert not locked.allowed("")
    assert locked.host_ok("tars.lan:5010")
    local = Access(None, beyond_loopback=False)
    assert not local.required
    assert local.allowed(None)
    assert local.host_ok("127.0.0.1:5010")
    assert local.host_ok("localhost:1")
    assert local.host_ok("[::1]:5")
    assert not local.host_ok("evil.example:5010")
    assert not local.host_ok(None)
    assert Access.origin_ok(None, "127.0.0.1:5010")  # not a browser
    assert Access.origin_ok("http://127.0.0.1:5010", "127.0.0.1:5010")
    assert not Access.origin_ok("http://evil.example", "127.0.0.1:5010")


def test_address_names_the_scheme_host_and_token() -> None:
    assert address(UiWebSettings(port=5010), None, https=False) == "http://127.0.0.1:5010/"
    wide = address(UiWebSettings(host="0.0.0.0", port=443), "tok", https=True)
    assert wide.startswith("https://")
    assert wide.endswith(":443/?token=tok")
    assert address(UiWebSettings(host="::1", port=1), None, https=False) == "http://[::1]:1/"


def test_tls_files_given_made_or_none(tmp_path: Path) -> None:
    assert tls_files(UiWebSettings(), tmp_path) is None
    given = UiWebSettings(tls_certfile=tmp_path / "c.pem", tls_keyfile=tmp_path / "k.pem")
    assert tls_files(given, tmp_path) == (tmp_path / "c.pem", tmp_path / "k.pem")
    cert, key = tls_files(UiWebSettings(tls_self_signed=True), tmp_path) or (None, None)
    assert cert is not None
    assert key is not None
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert tls_files(UiWebSettings(tls_self_signed=True), tmp_path) == (cert, key)  # reused
