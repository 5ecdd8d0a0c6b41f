"""The OpenID Connect relying party: Authlib does the protocol, this module configures it.

Authorization code flow with PKCE (S256), ``state`` kept in the session and cleared once
used (a replayed callback finds nothing), ``nonce`` checked, the provider's endpoints and
keys from discovery (``OIDC_ISSUER/.well-known/openid-configuration``), whose ``issuer``
must be the configured one. The ID token's signature is checked against the provider's
keys with the algorithms of ``OIDC_SIGNING_ALGORITHMS`` only (never ``none``, never a MAC
keyed by the client secret), and its claims: ``iss`` the configured issuer, ``aud`` holding
the client id (``azp`` when there are more), ``exp`` and ``iat`` present and within
``OIDC_CLOCK_SKEW_SECONDS``, ``sub`` present.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from joserfc.errors import JoseError
from requests import RequestException


class SignInFailed(Exception):
    """The provider's answer cannot be trusted or used; ``code`` says why (for the audit)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Claims:
    """What a validated ID token says about the user."""

    issuer: str
    subject: str
    claims: dict[str, Any]
    id_token: str


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


class _ProviderApp(DjangoOAuth2App):
    def load_server_metadata(self) -> dict[str, Any]:
        fresh = "_loaded_at" not in self.server_metadata
        metadata: dict[str, Any] = super().load_server_metadata()
        if fresh:
            if metadata.get("issuer", "").rstrip("/") != settings.OIDC_ISSUER:
                self.server_metadata.clear()  # not kept: the next sign-in asks again
                raise SignInFailed(
                    "issuer_mismatch", f"discovery names issuer {metadata.get('issuer')!r}"
                )
            offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
            # parse_id_token accepts exactly these: the provider's, within our own list.
            allowed = [alg for alg in offered if alg in settings.OIDC_SIGNING_ALGORITHMS]
            metadata["id_token_signing_alg_values_supported"] = allowed
        return metadata


class _OAuth(OAuth):
    oauth2_client_cls = _ProviderApp


_registry: dict[tuple[str, ...], Any] = {}


def _client() -> Any:
    """The provider's client, one per configuration (tests change the settings)."""
    key = (
        settings.OIDC_ISSUER,
        settings.OIDC_CLIENT_ID,
        settings.OIDC_CLIENT_SECRET,
        settings.OIDC_SCOPES,
        str(settings.OIDC_TIMEOUT_SECONDS),
    )
    client = _registry.get(key)
    if client is None:
        oauth = _OAuth()
        client = oauth.register(
            "portal_sso",
            client_id=settings.OIDC_CLIENT_ID,
            client_secret=settings.OIDC_CLIENT_SECRET,
            server_metadata_url=f"{settings.OIDC_ISSUER}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.OIDC_SCOPES,
                "code_challenge_method": "S256",
                "timeout": settings.OIDC_TIMEOUT_SECONDS,
            },
        )
        _registry.clear()
        _registry[key] = client
    return client


def authorize_redirect(request: HttpRequest, redirect_uri: str) -> HttpResponse:
    """The redirect to the provider's sign-in (state, nonce and PKCE verifier in the
    session)."""
    try:
        response: HttpResponse = _client().authorize_redirect(request, redirect_uri)
    except (OAuthError, RequestException, ValueError) as error:
        raise SignInFailed("provider_unreachable", str(error)) from error
    return response


def claims_from_callback(request: HttpRequest) -> Claims:
    """Exchange the callback's code and validate the ID token; ``SignInFailed`` otherwise."""
    if request.GET.get("error"):
        raise SignInFailed("provider_error", request.GET.get("error", "")[:100])
    if not request.GET.get("state") or not request.GET.get("code"):
        raise SignInFailed("bad_callback", "the callback has no code or state")
    with _failures_named():
        token = _client().authorize_access_token(
            request, claims_options=_claims_options(), leeway=settings.OIDC_CLOCK_SKEW_SECONDS
        )
    return _claims(token)


def validate_id_token(token: dict[str, Any], nonce: str) -> Claims:
    """Check a token response's ID token as the callback does (signature with the
    provider's keys, algorithm, issuer, audience, times within the skew, nonce)."""
    with _failures_named():
        token = dict(token)
        token["userinfo"] = _client().parse_id_token(
            token,
            nonce=nonce,
            claims_options=_claims_options(),
            leeway=settings.OIDC_CLOCK_SKEW_SECONDS,
        )
    return _claims(token)


def _claims_options() -> dict[str, Any]:
    return {
        "iss": {"essential": True, "values": [settings.OIDC_ISSUER]},
        "sub": {"essential": True},
    }


def _claims(token: dict[str, Any]) -> Claims:
    userinfo = token.get("userinfo")
    if not userinfo or not token.get("id_token"):
        raise SignInFailed("no_id_token", "the provider answered without an ID token")
    claims = dict(userinfo)
    return Claims(
        issuer=settings.OIDC_ISSUER,
        subject=str(claims["sub"]),
        claims=claims,
        id_token=str(token["id_token"]),
    )


@contextmanager
def _failures_named() -> Iterator[None]:
    """Whatever goes wrong in the exchange or the checks, as a ``SignInFailed`` code."""
    try:
        yield
    except SignInFailed:
        raise
    except OAuthError as error:
        raise SignInFailed(_oauth_code(error), str(error)) from error
    except (JoseError, AuthlibBaseError) as error:  # signature, claims, keys
        raise SignInFailed("id_token_invalid", f"{type(error).__name__}: {error}") from error
    except RequestException as error:
        raise SignInFailed("provider_unreachable", str(error)) from error
    except (ValueError, TypeError, KeyError) as error:  # a token that does not even parse
        raise SignInFailed("id_token_invalid", f"{type(error).__name__}: {error}") from error


def _oauth_code(error: OAuthError) -> str:
    text = f"{getattr(error, 'error', '')} {getattr(error, 'description', '')}".lower()
    if "state" in text:
        return "state_invalid"  # unknown, used before, or from another browser
    return "token_request_failed"


def logout_url(id_token: str, post_logout_redirect_uri: str) -> str | None:
    """The provider's end-session URL (RP-initiated logout), when it offers one."""
    try:
        metadata = _client().load_server_metadata()
    except (SignInFailed, RequestException, ValueError):
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    made = _client().create_logout_url(
        post_logout_redirect_uri=post_logout_redirect_uri, id_token_hint=id_token
    )
    return str(made["url"])
