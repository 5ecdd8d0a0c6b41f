"""ID-token attacks, checked by the same validation as the callback (``oidc.validate_id_token``
runs Authlib's ``parse_id_token`` with the portal's options) against a real provider's
discovery document and keys: the provider signs with a key the test holds too, so the test
can forge every variant."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings
from joserfc import jwt
from joserfc.jwk import RSAKey

from portal.identity import oidc
from tests.support.idp import RunningOIDCProvider, oidc_provider

CLIENT_ID = "portal"
SECRET = "portal-test-client-secret-0123456789"
NONCE = "n-0S6_WzA2Mj"
SKEW = 60

PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def provider() -> Iterator[RunningOIDCProvider]:
    clients = [
        {
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "redirect_uris": ["http://127.0.0.1:8/accounts/sso/callback/"],
        }
    ]
    with oidc_provider(clients, [], jwks={"keys": [PROVIDER_KEY.as_dict(private=True)]}) as idp:
        yield idp


@pytest.fixture
def validate(provider: RunningOIDCProvider) -> Iterator[Callable[[str], Any]]:
    with override_settings(
        OIDC_ISSUER=provider.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=SECRET,
        OIDC_CLOCK_SKEW_SECONDS=SKEW,
    ):
        yield lambda token: oidc.validate_id_token(
            {"id_token": token, "access_token": "opaque"}, nonce=NONCE
        )


def _claims(issuer: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": "u-1",
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": NONCE,
        "groups": ["portal-agents-north"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(claims: dict[str, Any], key: Any = PROVIDER_KEY, alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """Signed by hand: joserfc rightly refuses to use a public key as an HMAC secret."""
    header = _b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def test_a_genuine_token_passes_and_the_clock_skew_is_bounded(
    provider: RunningOIDCProvider, validate: Callable[[str], Any]
) -> None:
    claims = validate(_signed(_claims(provider.issuer))).claims
    assert claims["sub"] == "u-1" and claims["groups"] == ["portal-agents-north"]
    # Expired 30 s ago: within the allowed skew (60 s), accepted; 120 s ago: refused.
    assert validate(_signed(_claims(provider.issuer, exp=int(time.time()) - 30)))
    with pytest.raises(oidc.SignInFailed):
        validate(_signed(_claims(provider.issuer, exp=int(time.time()) - 120)))


NONE_HEADER = _b64(json.dumps({"alg": "none"}).encode())


def _forgeries(issuer: str) -> dict[str, str]:
    now = int(time.time())
    genuine = _signed(_claims(issuer))
    header, payload, signature = genuine.split(".")
    tampered_payload = _b64(json.dumps(_claims(issuer, sub="u-admin")).encode())
    public_pem = PROVIDER_KEY.as_pem(private=False)
    return {
        "payload changed after signing": f"{header}.{tampered_payload}.{signature}",
        "signature stripped": f"{header}.{payload}.",
        "alg none": f"{NONE_HEADER}.{payload}.",
        "HS256 keyed with the client secret": _hs256(_claims(issuer), SECRET.encode()),
        "HS256 keyed with the provider's public key (key confusion)": _hs256(
            _claims(issuer), public_pem
        ),
        "signed by another key with the provider's kid": _signed(_claims(issuer), OTHER_KEY),
        "expired beyond the skew": _signed(_claims(issuer, exp=now - 3600, iat=now - 7200)),
        "issued in the future": _signed(_claims(issuer, iat=now + 3600, exp=now + 7200)),
        "not valid yet (nbf)": _signed(_claims(issuer, nbf=now + 3600)),
        "another audience": _signed(_claims(issuer, aud="another-client")),
        "several audiences, no azp": _signed(_claims(issuer, aud=[CLIENT_ID, "another"])),
        "several audiences, azp another client": _signed(
            _claims(issuer, aud=[CLIENT_ID, "another"], azp="another")
        ),
        "another issuer": _signed(_claims("http://127.0.0.1:1")),
        "issuer with a trailing slash": _signed(_claims(issuer + "/")),
        "no subject": _signed(_claims(issuer, sub=None)),
        "no expiry": _signed(_claims(issuer, exp=None)),
        "no issued-at": _signed(_claims(issuer, iat=None)),
        "wrong nonce (replayed from another sign-in)": _signed(_claims(issuer, nonce="other")),
        "no nonce": _signed(_claims(issuer, nonce=None)),
        "not a JWT": "not-a-token",
        "JSON instead of a JWT": json.dumps(_claims(issuer)),
    }


ATTACKS = sorted(_forgeries("http://x"))


@pytest.mark.parametrize("attack", ATTACKS)
def test_forged_tokens_are_refused(
    provider: RunningOIDCProvider, validate: Callable[[str], Any], attack: str
) -> None:
    token = _forgeries(provider.issuer)[attack]
    with pytest.raises(oidc.SignInFailed) as refused:
        validate(token)
    assert refused.value.code == "id_token_invalid", (attack, refused.value)


def test_discovery_naming_another_issuer_is_refused(provider: RunningOIDCProvider) -> None:
    """The discovery document must name the configured issuer (mix-up defence): a portal
    pointed at 'localhost' when the provider calls itself '127.0.0.1' refuses to trust it."""
    other = provider.issuer.replace("127.0.0.1", "localhost")
    with (
        override_settings(OIDC_ISSUER=other, OIDC_CLIENT_ID=CLIENT_ID, OIDC_CLIENT_SECRET=SECRET),
        pytest.raises(oidc.SignInFailed) as refused,
    ):
        oidc.validate_id_token({"id_token": "x.y.z", "access_token": "a"}, nonce=NONCE)
    assert refused.value.code == "issuer_mismatch"
