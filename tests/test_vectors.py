"""The public WeCom crypto vectors (Tencent's samples, wechatpy's tests) go through our crypto adapter.

If these pass, a callback WeCom really sends verifies and decrypts with our code, and a passive reply
we encrypt is byte-for-byte what WeCom's own library would produce.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest
from wechatpy.work.crypto import PrpCrypto

from bot.wecom.crypto import CallbackCrypto, SignatureRejected

VECTORS_PATH = Path(__file__).resolve().parent / "data" / "wecom-vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))["vectors"]
KNOWN_KINDS = {"verify_url", "verify_url_must_fail", "decrypt_xml", "decrypt_json", "encrypt_xml_fixed_random"}


def of_kind(*kinds: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in VECTORS if v["kind"] in kinds]


def crypto_for(vector: dict[str, Any], receive_id: str | None = None) -> CallbackCrypto:
    rid = vector["receive_id"] if receive_id is None else receive_id
    return CallbackCrypto(vector["token"], vector["encoding_aes_key"], rid)


def encrypted_of(vector: dict[str, Any]) -> str:
    """The ciphertext WeCom put in the POST body (XML <Encrypt> or JSON "encrypt")."""
    if vector["kind"] == "decrypt_json":
        return json.loads(vector["post_body"])["encrypt"]
    element = SafeET.fromstring(vector["post_body"]).find("Encrypt")
    assert element is not None and element.text, "vector has no <Encrypt>"
    return element.text


def decrypt(vector: dict[str, Any], receive_id: str | None = None) -> str:
    return crypto_for(vector, receive_id).decrypt(
        encrypted_of(vector), vector["msg_signature"], vector["timestamp"], vector["nonce"]
    )


def other_receive_id(vector: dict[str, Any]) -> str:
    return "ww0000000000000000" if vector["receive_id"] != "ww0000000000000000" else "ww1111111111111111"


def test_every_vector_kind_is_exercised() -> None:
    """A vector of a kind this file does not know would silently go unchecked."""
    kinds = {v["kind"] for v in VECTORS}
    assert kinds <= KNOWN_KINDS, f"untested vector kinds: {kinds - KNOWN_KINDS}"
    assert {"verify_url", "decrypt_xml", "decrypt_json", "encrypt_xml_fixed_random"} <= kinds


@pytest.mark.parametrize("vector", of_kind("verify_url"))
def test_url_verification_vector_answers_echostr_plaintext(vector: dict[str, Any]) -> None:
    """WeCom's own URL-verification samples pass and yield the echo plaintext to answer with."""
    echo = crypto_for(vector).verify_url(
        vector["msg_signature"], vector["timestamp"], vector["nonce"], vector["echostr"]
    )
    # WeCom's echostr plaintexts are random decimal strings.
    assert re.fullmatch(r"\d+", echo), echo


@pytest.mark.parametrize("vector", of_kind("verify_url_must_fail"))
def test_url_verification_vector_with_bad_signature_is_rejected(vector: dict[str, Any]) -> None:
    """A tampered verification request is refused (the endpoint answers 403)."""
    with pytest.raises(SignatureRejected):
        crypto_for(vector).verify_url(vector["msg_signature"], vector["timestamp"], vector["nonce"], vector["echostr"])


@pytest.mark.parametrize("vector", of_kind("decrypt_xml"))
def test_xml_callback_vector_decrypts(vector: dict[str, Any]) -> None:
    """A real self-built-app POST decrypts to the message WeCom published for it."""
    plaintext = decrypt(vector)
    if "expected_plaintext" in vector:
        assert plaintext == vector["expected_plaintext"]
    if "expected_fields" in vector:
        root = SafeET.fromstring(plaintext)
        assert {name: root.findtext(name) for name in vector["expected_fields"]} == vector["expected_fields"]
    assert "expected_plaintext" in vector or "expected_fields" in vector


@pytest.mark.parametrize("vector", of_kind("decrypt_json"))
def test_json_callback_vector_decrypts(vector: dict[str, Any]) -> None:
    """A JSON-wrapped POST (the aibot's wrapping) decrypts to the published plaintext, byte for byte."""
    # Compared as text: one published plaintext is not valid JSON (a typo in Tencent's sample).
    assert decrypt(vector) == vector["expected_plaintext"]


@pytest.mark.parametrize("vector", of_kind("encrypt_xml_fixed_random"))
def test_passive_reply_encryption_matches_vector(vector: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """With WeCom's random prefix pinned, our reply envelope equals the published ciphertext and signature."""
    monkeypatch.setattr(PrpCrypto, "get_random_string", lambda self: vector["random16"])
    reply = crypto_for(vector).encrypt(vector["plaintext"], nonce=vector["nonce"], timestamp=vector["timestamp"])
    assert reply == {
        "encrypt": vector["expected_encrypt"],
        "msgsignature": vector["expected_msg_signature"],
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
    }


@pytest.mark.parametrize("vector", of_kind("encrypt_xml_fixed_random"))
def test_passive_reply_round_trips(vector: dict[str, Any]) -> None:
    """A reply we encrypt (with a real random prefix) verifies and decrypts back to the plaintext."""
    crypto = crypto_for(vector)
    reply = crypto.encrypt(vector["plaintext"], nonce=vector["nonce"], timestamp=vector["timestamp"])
    assert (
        crypto.decrypt(reply["encrypt"], reply["msgsignature"], reply["timestamp"], reply["nonce"])
        == vector["plaintext"]
    )


@pytest.mark.parametrize("vector", of_kind("verify_url"))
def test_url_verification_vector_for_another_receive_id_is_rejected(vector: dict[str, Any]) -> None:
    """A correctly signed echostr meant for another corp is refused, not answered."""
    crypto = crypto_for(vector, other_receive_id(vector))
    with pytest.raises(SignatureRejected):
        crypto.verify_url(vector["msg_signature"], vector["timestamp"], vector["nonce"], vector["echostr"])


@pytest.mark.parametrize("vector", of_kind("decrypt_xml", "decrypt_json"))
def test_callback_vector_for_another_receive_id_is_rejected(vector: dict[str, Any]) -> None:
    """A correctly signed message encrypted for another corp id is refused (the endpoint answers 403)."""
    with pytest.raises(SignatureRejected):
        decrypt(vector, other_receive_id(vector))


@pytest.mark.parametrize("vector", of_kind("decrypt_xml", "decrypt_json"))
def test_callback_vector_with_tampered_signature_is_rejected(vector: dict[str, Any]) -> None:
    """Changing one character of the signature is enough to be refused."""
    bad = ("0" if vector["msg_signature"][0] != "0" else "1") + vector["msg_signature"][1:]
    with pytest.raises(SignatureRejected):
        crypto_for(vector).decrypt(encrypted_of(vector), bad, vector["timestamp"], vector["nonce"])
