"""The router's client for the VPN Spot service API (provider/openapi.yaml).

Owns: the six calls a router makes (enroll, servers, register_key, report,
account, connection_check), retries with capped exponential backoff and full jitter
(core/backoff.py), validation of every request before it leaves and of
every answer before it is used (core/apischema.py against openapi.yaml),
and turning failures into errors a household can act on.

Keep in sync with: openapi.yaml (the contract), lab/provider_service.py
(the reference service the tests run against), transport.py (the errors
below HTTP).

What leaves the router, and nothing else: the request bodies openapi.yaml
allows (checked here before sending, so a stray field is a ValueError on
the router, not a leak), `Authorization: Bearer DEVICE_TOKEN`, a random
`Idempotency-Key` on enroll, `User-Agent: vpnspot-router/VERSION`, and
Accept/Content-Type. connection_check sends none of the router's
identity: no token, no body, only Accept and User-Agent; the agent sends
it out of the tunnel interface (`device`, see transport.py) so that its
answer is the address the internet sees through the tunnel. Report bodies
are built by core/telemetry.py; this client sends the bytes it is given,
unchanged, after telemetry.check_report() and the API schema accept them
(else TelemetryError/ValueError, nothing sent). Log lines name the call,
the HTTP status and the attempt: never a body, the email, the activation
code or the device token.

Exceptions (each has .message for the household and .code, the API's
machine code or None):

  ProviderError
   +-- NoNetwork                no network: the router cannot reach the VPN Spot service
   |    +-- ServiceTimeout      no answer from the VPN Spot service in time
   +-- CertificateError         the service's certificate is not trusted (never retried)
   +-- ServiceUnavailable       HTTP 5xx after all retries
   +-- RateLimited              429 after all retries, or a Retry-After beyond the cap
   +-- ActivationError
   |    +-- ActivationCodeInvalid    activation_code_invalid
   |    +-- ActivationCodeExpired    activation_code_expired
   |    +-- ActivationCodeUsed       activation_code_used
   +-- AccountError
   |    +-- AccountSuspended         account_suspended
   |    +-- AccountExpired           account_expired
   +-- NotEnrolled              unauthorized, or no device token yet
   +-- KeyInUse                 key_in_use
   +-- RequestRejected          invalid_request, not_found, report_conflict, ...:
   |                            the agent sent something the service refused
   +-- ProtocolError            the answer does not match openapi.yaml

Retried (up to `retries` more times): NoNetwork, ServiceTimeout, HTTP 500,
502, 503, 504 and 429. Everything else is final at once: retrying a
rejected activation code or an untrusted certificate cannot help.
"""

import json
import logging
import random as _random
import time
from collections import namedtuple

from vpnspot_router.core import backoff, telemetry
from vpnspot_router.version import VERSION

USER_AGENT = "vpnspot-router/" + VERSION

# spec (openapi.yaml as Python objects) and transport (ssl, http.client,
# email: about 7 MB together) are imported by the methods that use them, so
# importing this module for its errors and result types costs little: the
# agent does that and makes its calls in a short-lived child (driver.py).

log = logging.getLogger("vpnspot.provider")
# A library's convention: silent unless the program configures logging (the
# agent does; `vpnspot enroll` prints the household message instead).
log.addHandler(logging.NullHandler())

RETRYABLE_STATUSES = (500, 502, 503, 504)


def _new_idempotency_key():
    import secrets          # hmac, hashlib and OpenSSL: only when a key is made
    return secrets.token_urlsafe(24)


# --------------------------------------------------------------------------
# Errors a household sees


class ProviderError(Exception):
    default = "the VPN Spot service could not complete the request"

    def __init__(self, message=None, code=None, detail=None):
        self.message = message or self.default
        self.code = code
        # For engineers (logs, `vpnspot status`); never contains a secret.
        self.detail = detail
        super().__init__(self.message)


class NoNetwork(ProviderError):
    default = "no network: the router cannot reach the VPN Spot service"


class ServiceTimeout(NoNetwork):
    default = ("no answer: the VPN Spot service did not answer in time; "
               "the internet connection may be slow or down")


class CertificateError(ProviderError):
    default = ("the VPN Spot service could not be verified: its certificate is not trusted. "
               "Check that the router's date and time are right; if your internet provider "
               "runs the service, check the CA file it supplied")


class ServiceUnavailable(ProviderError):
    default = "the VPN Spot service is temporarily unavailable; try again in a few minutes"


class RateLimited(ProviderError):
    default = "the VPN Spot service is busy and asked the router to wait before trying again"

    def __init__(self, message=None, code="rate_limited", detail=None, retry_after=None):
        if message is None and retry_after is not None:
            message = ("the VPN Spot service is busy and asked the router to wait %d seconds "
                       "before trying again" % retry_after)
        super().__init__(message, code, detail)
        self.retry_after = retry_after


class ActivationError(ProviderError):
    default = "the activation code was not accepted"


class ActivationCodeInvalid(ActivationError):
    default = ("activation code not recognised: check the email address and the code "
               "for typos (codes look like VPNS-7Q4K-M2XD)")


class ActivationCodeExpired(ActivationError):
    default = "activation code expired: get a new one from your VPN Spot account page"


class ActivationCodeUsed(ActivationError):
    default = ("activation code already used: each code enrolls one router; "
               "get a new one from your VPN Spot account page")


class AccountError(ProviderError):
    default = "the VPN Spot account cannot be used"


class AccountSuspended(AccountError):
    default = "account suspended: contact VPN Spot support to restore it"


class AccountExpired(AccountError):
    default = "account expired: renew the subscription on your VPN Spot account page"


class NotEnrolled(ProviderError):
    default = ("this router is not enrolled with VPN Spot (or no longer is): "
               "enroll it again with your email and an activation code")


class KeyInUse(ProviderError):
    default = ("this router's WireGuard key is registered to another device: "
               "generate a new key and register again")


class RequestRejected(ProviderError):
    default = ("the VPN Spot service rejected a request from this router's agent; "
               "an agent update may be needed")


class ProtocolError(ProviderError):
    default = ("the VPN Spot service sent an answer this router's agent does not understand; "
               "an agent update may be needed")


ERRORS_BY_CODE = {
    "activation_code_invalid": ActivationCodeInvalid,
    "activation_code_expired": ActivationCodeExpired,
    "activation_code_used": ActivationCodeUsed,
    "account_suspended": AccountSuspended,
    "account_expired": AccountExpired,
    "unauthorized": NotEnrolled,
    "key_in_use": KeyInUse,
    "rate_limited": RateLimited,
    "service_unavailable": ServiceUnavailable,
    "internal_error": ServiceUnavailable,
}


# --------------------------------------------------------------------------
# Results


class Enrollment(namedtuple("Enrollment", "device_id device_token")):
    __slots__ = ()

    def __repr__(self):
        return "Enrollment(device_id=%r, device_token=<redacted>)" % self.device_id


Server = namedtuple("Server", "id region country city hostname endpoint public_key load ipv6 dns")
TunnelAddresses = namedtuple("TunnelAddresses", "public_key ipv4 ipv6")
ReportReceipt = namedtuple("ReportReceipt", "report_id duplicate")
Account = namedtuple("Account", "active status plan expires_at")
# address: the source address the service saw (text); vpnspot: whether the
# service counts it as a VPN Spot exit.
ConnectionCheck = namedtuple("ConnectionCheck", "address vpnspot")


# --------------------------------------------------------------------------
# The client


class ProviderClient:
    """Calls the VPN Spot service.

    api_url: https://HOST[:PORT] (no path). ca_file: trust only this CA
    bundle instead of the system's. resolve: {hostname: address}.
    device: send every request out of this interface only (SO_BINDTODEVICE,
    no firewall mark): the agent's connection check through the tunnel.
    transport: a transport.Transport (tests pass FakeTransport); when given,
    ca_file and resolve are unused. sleep and random are injected so tests
    run the backoff without waiting.
    """

    def __init__(self, api_url, device_token=None, ca_file=None, resolve=None, transport=None,
                 timeout=10.0, retries=4, backoff_base=0.5, backoff_cap=30.0,
                 sleep=time.sleep, random=_random.random, idempotency_key=None, device=None):
        if not api_url.startswith("https://"):
            raise ValueError("the VPN Spot API URL must start with https:// (got %r)" % api_url)
        self.api_url = api_url.rstrip("/")
        from vpnspot_router.provider import spec as _spec
        from vpnspot_router.provider import transport as _transport
        self.device_token = device_token
        self.transport = transport or _transport.HttpsTransport(ca_file=ca_file, resolve=resolve,
                                                                device=device)
        self.timeout = timeout
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._random = random
        self._idempotency_key = idempotency_key or _new_idempotency_key
        self.spec = _spec.load()
        self.user_agent = USER_AGENT

    def __repr__(self):
        return "<ProviderClient %s enrolled=%s>" % (self.api_url, self.device_token is not None)

    # -- the calls -----------------------------------------------------------

    def enroll(self, email, activation_code):
        """Enroll with the account email and an activation code; keeps and returns the token."""
        data = self._call("POST", "/v1/enrollments",
                          {"email": email, "activation_code": activation_code},
                          auth=False, headers={"Idempotency-Key": self._idempotency_key()})
        self.device_token = data["device_token"]
        return Enrollment(data["device_id"], data["device_token"])

    def servers(self):
        data = self._call("GET", "/v1/servers")
        return [Server(**s) for s in data["servers"]]

    def register_key(self, public_key):
        """Register the router's WireGuard public key (base64). Never the private key."""
        data = self._call("PUT", "/v1/device/key", {"public_key": public_key})
        if data["public_key"] != public_key:
            raise ProtocolError(detail="the service confirmed a different public key")
        return TunnelAddresses(data["public_key"], data["ipv4"], data["ipv6"])

    def report(self, payload):
        """Send one telemetry report: bytes built by core/telemetry.py, sent unchanged."""
        # The builder's own last check (whitelist, canonical bytes), then the
        # API schema in _call: two fences, neither trusting the caller.
        telemetry.check_report(bytes(payload) if isinstance(payload, bytearray) else payload)
        data = self._call("POST", "/v1/reports", raw=bytes(payload))
        return ReportReceipt(data["report_id"], data["duplicate"])

    def account(self):
        data = self._call("GET", "/v1/account")
        return Account(data["active"], data["status"], data["plan"], data["expires_at"])

    def connection_check(self):
        """The address the service saw this request come from, and whether
        it is a VPN Spot exit. Sends no token and no body, whatever this
        client holds."""
        import ipaddress
        data = self._call("GET", "/v1/connection", auth=False)
        try:
            address = ipaddress.ip_address(data["address"])
            address = str(getattr(address, "ipv4_mapped", None) or address)
        except ValueError:
            raise ProtocolError(detail="connectionCheck: the address seen is not an IP address")
        return ConnectionCheck(address, data["vpnspot"])

    # -- machinery -------------------------------------------------------------

    def _call(self, method, path, payload=None, raw=None, auth=True, headers=None):
        op = self.spec.operation(method, path)
        name = op["operationId"]
        body = None
        if payload is not None or raw is not None:
            if raw is None:
                raw = json.dumps(payload, separators=(",", ":")).encode()
            try:
                decoded = json.loads(raw)
            except ValueError:
                raise ValueError("%s: request body is not JSON" % name) from None
            errors = self.spec.validate(self.spec.request_schema(op), decoded)
            if errors:
                # The API allows nothing beyond its schema; refusing here
                # means an extra field is a bug found on the router, not data
                # sent. The values are not echoed: they may be secrets.
                raise ValueError("%s: request refused before sending: %s"
                                 % (name, "; ".join(e.split(":")[0] + ": invalid" for e in errors)))
            body = raw
        send_headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if body is not None:
            send_headers["Content-Type"] = "application/json"
        if auth:
            if not self.device_token:
                raise NotEnrolled(detail="no device token")
            send_headers["Authorization"] = "Bearer " + self.device_token
        send_headers.update(headers or {})
        from vpnspot_router.provider import transport as _transport
        request = _transport.Request(method, self.api_url + path, send_headers, body, self.timeout)

        attempt = 0
        while True:
            answer, error, retry_after = self._attempt(op, request, attempt)
            if error is None:
                return answer
            final = attempt >= self.retries or not _retryable(error)
            delay = None
            if not final:
                delay = backoff.retry_delay(attempt, self.backoff_base, self.backoff_cap,
                                            self._random(), retry_after)
                final = delay is None
            if final:
                log.warning("%s failed after %d attempt(s): %s", name, attempt + 1,
                            error.detail or error.message)
                raise error
            log.info("%s: %s; retry %d in %.1f s", name, error.detail or error.message,
                     attempt + 1, delay)
            self._sleep(delay)
            attempt += 1

    def _attempt(self, op, request, attempt):
        """One try: (answer, None, None) or (None, ProviderError, retry_after seconds or None)."""
        name = op["operationId"]
        from vpnspot_router.provider import transport as _transport
        try:
            resp = self.transport.handle(request)
        except _transport.CertificateRejected as e:
            return None, CertificateError(detail=str(e)), None
        except _transport.TimedOut as e:
            return None, ServiceTimeout(detail=str(e)), None
        except _transport.ConnectFailed as e:
            return None, NoNetwork(detail=str(e)), None
        log.debug("%s -> HTTP %d (attempt %d)", name, resp.status, attempt + 1)
        retry_after = _retry_after(resp.headers.get("retry-after"))
        if resp.status in RETRYABLE_STATUSES:
            return None, ServiceUnavailable(detail="HTTP %d" % resp.status), None
        try:
            data = json.loads(resp.body)
        except (ValueError, RecursionError):
            # RecursionError: nesting deeper than the interpreter's stack (a
            # 1 MiB answer holds 500,000 '['), which json reports that way.
            return None, ProtocolError(detail="HTTP %d with a body that is not JSON" % resp.status), None
        if 200 <= resp.status < 300:
            if resp.status not in self.spec.documented_statuses(op):
                return None, ProtocolError(detail="undocumented HTTP %d" % resp.status), None
        schema = self.spec.response_schema(op, resp.status)
        errors = self.spec.validate(schema, data) if schema is not None else ["no schema"]
        if errors:
            return None, ProtocolError(detail="HTTP %d answer does not match the API: %s"
                                 % (resp.status, "; ".join(errors[:3]))), None
        if 200 <= resp.status < 300:
            return data, None, None
        code = data["error"]["code"]
        if retry_after is None:
            retry_after = data["error"].get("retry_after")
        if resp.status == 429 or code == "rate_limited":
            return None, RateLimited(detail="HTTP %d rate_limited" % resp.status,
                               retry_after=retry_after), retry_after
        cls = ERRORS_BY_CODE.get(code, RequestRejected)
        return None, cls(code=code, detail="HTTP %d %s" % (resp.status, code)), None


def _retryable(error):
    return isinstance(error, (NoNetwork, ServiceUnavailable, RateLimited))


def _retry_after(value):
    # Seconds only: the HTTP-date form is not used by the VPN Spot service.
    if value is None:
        return None
    try:
        seconds = int(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
