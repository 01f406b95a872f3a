"""RS256 JSON Web Tokens as Entra ID and a Kubernetes OIDC issuer sign them (PyJWT does the math).

A `SigningKey` is an RSA key with the `kid`/`x5t` header Entra puts on its tokens and the JWK
its discovery document publishes. `read` checks a token against known keys and returns its
claims, or raises `Rejected` saying why in terms a resource server uses (expired, not yet
valid, bad signature, malformed), so each server can word its own refusal. Times are wall-clock
epoch seconds: clients compare `exp` with their own clock, not with the simulated one.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

Claims = dict[str, Any]


class Why(StrEnum):
    MALFORMED = "malformed"
    SIGNATURE = "signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


class Rejected(Exception):
    def __init__(self, why: Why, detail: str, claims: Claims | None = None) -> None:
        super().__init__(detail)
        self.why, self.detail, self.claims = why, detail, claims or {}


@dataclass(frozen=True)
class SigningKey:
    private: rsa.RSAPrivateKey = field(repr=False)
    kid: str

    @classmethod
    def generate(cls) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = private.public_key().public_numbers().n.to_bytes(256, "big")
        # Entra's kid and x5t are the same base64url thumbprint-like string.
        kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")
        return cls(private, kid)

    def sign(self, claims: Claims) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256",
                          headers={"typ": "JWT", "kid": self.kid, "x5t": self.kid})

    def jwk(self) -> dict[str, Any]:
        key: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**key, "kid": self.kid, "x5t": self.kid, "use": "sig"}


def unverified(token: str) -> Claims:
    """The claims of a token without checking it (to find its issuer); Rejected if not a JWT."""
    try:
        claims: Claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Rejected(Why.MALFORMED, f"not a JWT: {exc}") from None
    return claims


def read(token: str, keys: Mapping[str, SigningKey], now: float | None = None) -> Claims:
    """The claims of `token` if one of `keys` (by kid) signed it and it is valid at `now`."""
    claims = unverified(token)
    try:
        kid = jwt.get_unverified_header(token).get("kid", "")
    except jwt.PyJWTError as exc:
        raise Rejected(Why.MALFORMED, f"bad header: {exc}") from None
    key = keys.get(kid)
    if key is None:
        raise Rejected(Why.SIGNATURE, f"signed by an unknown key {kid!r}", claims)
    try:
        jwt.decode(token, key.private.public_key(), algorithms=["RS256"],
                   options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                            "verify_aud": False, "verify_iss": False})
    except jwt.PyJWTError as exc:
        raise Rejected(Why.SIGNATURE, f"signature check failed: {exc}", claims) from None
    _check_times(claims, time.time() if now is None else now)
    return claims


def _check_times(claims: Claims, now: float) -> None:
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float):
        raise Rejected(Why.MALFORMED, "no exp claim", claims)
    if now >= exp:
        raise Rejected(Why.EXPIRED, "expired", claims)
    if isinstance(nbf, int | float) and now < nbf:
        raise Rejected(Why.NOT_YET_VALID, "not valid yet", claims)
