"""Parameter Store: env vars from SSM parameters, in as few round trips as AWS allows.

``GetParameters`` takes at most ten names, so wanted names are fetched in
batches of ten (the example's one secret is one call); a ``Service.ssm_path``
prefix is read with ``GetParametersByPath`` page by page. botocore's own
retries are switched off so that every retry is ours: counted, reported, with
backoff and jitter, bounded by attempts and time (a quiet retry loop looks like
a hang). Failures that a person must fix (no credentials, no region, access
denied, parameter missing) are returned per variable, so validation can list
them all in one message; an endpoint that stays unreachable or throttled is an
infrastructure error.

boto3 is imported only when a fetch is needed: ``nox -l`` and local runs with
placeholders never pay for it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ci.errors import InfraError
from ci.tier2.retry import RetriesExhausted, RetryPolicy, RetryStats, call_with_retries

BATCH = 10
"""GetParameters accepts at most ten names per call."""
THROTTLE_CODES = frozenset({
    "ThrottlingException", "Throttling", "TooManyUpdates", "ThrottledException",
    "RequestLimitExceeded", "TooManyRequestsException",
})
CREDENTIAL_CODES = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
    "ExpiredTokenException", "ExpiredToken", "SignatureDoesNotMatch",
})
NO_CREDENTIALS = (
    "no AWS credentials found (looked for AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "AWS_PROFILE, ~/.aws files, web identity and instance metadata)"
)
NO_REGION = "no AWS region configured (set AWS_REGION or AWS_DEFAULT_REGION)"
NO_BOTO3 = (
    "boto3 is not installed beside nox, and Parameter Store is read in the nox process "
    "(pip install boto3 where nox is installed, or export the variable yourself)"
)
SERVER_ERROR_CODES = frozenset({
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
    "InternalServerErrorException",
})
"""AWS-side failures: retried like throttling, infrastructure (exit 3) if they persist."""


def not_found(region: str | None) -> str:
    return (f"parameter not found in region {region or '?'} (check the name, and AWS_REGION "
            "if the parameter lives in another region)")


@dataclass(frozen=True)
class Wanted:
    """One variable to fill from one parameter."""

    var: str
    parameter: str


@dataclass
class FetchResult:
    values: dict[str, str] = field(default_factory=dict)
    """Variable -> value, for every parameter found."""
    parameters: dict[str, str] = field(default_factory=dict)
    """Variable -> the parameter it came from."""
    problems: dict[str, str] = field(default_factory=dict)
    """Variable -> why its parameter could not be read (for validation)."""
    general: list[str] = field(default_factory=list)
    """Problems not tied to one variable (a path that could not be read)."""
    notes: list[str] = field(default_factory=list)
    stats: RetryStats = field(default_factory=RetryStats)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"Parameter Store: {len(self.values)} value(s) in {self.stats.calls} "
                f"request(s), {self.stats.retries} retr{'y' if self.stats.retries == 1 else 'ies'}"
                f", {self.seconds:.2f}s")


class SetupProblem(Exception):
    """No client could be made (no region, no credentials): applies to every variable."""


def env_name_for(parameter: str) -> str:
    """``/team/prod/openai-api_key`` -> ``OPENAI_API_KEY`` (basename, upper-cased)."""
    base = parameter.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_]", "_", base).upper()


def batches(names: Iterable[str], size: int = BATCH) -> list[list[str]]:
    """Unique names, in first-seen order, cut into lists of at most ``size``."""
    unique = list(dict.fromkeys(names))
    return [unique[i:i + size] for i in range(0, len(unique), size)]


QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def quiet_sdk_logging() -> None:
    """Keep the AWS SDK's DEBUG logs off, whatever the root logger's level.

    nox puts the root logger at DEBUG; botocore then logs every response body,
    decrypted SecureString values included, *before* they can be masked.
    """
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def make_client(environ: Mapping[str, str]) -> Any:
    """An SSM client from ``environ`` (the layered env, not only ``os.environ``).

    Raises :class:`SetupProblem` before any request when region or credentials
    are missing. Endpoint overrides (``AWS_ENDPOINT_URL_SSM``, ``AWS_ENDPOINT_URL``)
    are honoured, which is how the tests point it at moto.
    """
    quiet_sdk_logging()
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ImportError:
        raise SetupProblem(NO_BOTO3) from None

    try:
        session = boto3.session.Session(
            aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=environ.get("AWS_SESSION_TOKEN") or None,
            region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
            profile_name=environ.get("AWS_PROFILE") or None,
        )
    except botocore.exceptions.ProfileNotFound as exc:
        raise SetupProblem(f"AWS profile not found: {exc}") from None
    missing: list[str] = []
    if not session.region_name:
        missing.append(NO_REGION)
    try:
        if session.get_credentials() is None:
            missing.append(NO_CREDENTIALS)
    except botocore.exceptions.BotoCoreError as exc:
        missing.append(f"AWS credentials could not be loaded: {exc}")
    if missing:
        raise SetupProblem("; ".join(missing))
    endpoint = environ.get("AWS_ENDPOINT_URL_SSM") or environ.get("AWS_ENDPOINT_URL") or None
    config = botocore.config.Config(
        retries={"total_max_attempts": 1},  # our loop retries, visibly
        connect_timeout=5,
        read_timeout=15,
    )
    return session.client("ssm", endpoint_url=endpoint, config=config)


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_throttle(exc: BaseException) -> bool:
    return _code(exc) in THROTTLE_CODES or "rate exceeded" in str(exc).lower()


def is_connection_error(exc: BaseException) -> bool:
    try:
        import botocore.exceptions
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return False
    return isinstance(exc, botocore.exceptions.EndpointConnectionError
                      | botocore.exceptions.ConnectTimeoutError
                      | botocore.exceptions.ReadTimeoutError)


def is_server_error(exc: BaseException) -> bool:
    """An HTTP 5xx or an AWS internal/unavailable error code."""
    if _code(exc) in SERVER_ERROR_CODES:
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return isinstance(status, int) and status >= 500
    return False


def retryable(exc: BaseException) -> bool:
    return is_throttle(exc) or is_server_error(exc) or is_connection_error(exc)


_SETUP_ERRORS = ("NoCredentialsError", "PartialCredentialsError", "NoRegionError")


def _raise_if_setup_problem(exc: Exception) -> None:
    """No credentials or no region: the whole fetch is pointless, stop at once."""
    if type(exc).__name__ in _SETUP_ERRORS:
        raise SetupProblem(describe_failure(exc)) from None


def describe_failure(exc: BaseException, region: str | None = None) -> str:
    """A person-readable reason for a non-retryable error, with the region asked."""
    code = _code(exc)
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return NO_CREDENTIALS
    if name == "NoRegionError":
        return NO_REGION
    where = f" in region {region}" if region else ""
    if code in ("AccessDeniedException", "AccessDenied"):
        return (f"access denied{where}: grant the AWS identity ssm:GetParameters"
                "(ByPath) on it (and kms:Decrypt on its key), or check AWS_REGION")
    if code in ("ParameterNotFound", "ParameterVersionNotFound"):
        return not_found(region)
    if code in CREDENTIAL_CODES:
        return f"AWS rejected the credentials{where} ({code}): refresh them"
    if code:
        return f"{code}: {getattr(exc, 'response', {}).get('Error', {}).get('Message', '')}"
    return f"{name}: {exc}"


class ParameterStore:
    """Fetches wanted parameters and path prefixes, reporting every retry through ``say``."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        policy: RetryPolicy | None = None,
        say: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        region: str | None = None,
    ) -> None:
        self._factory = client_factory
        self.region = region
        self._client: Any = None
        self.policy = policy or RetryPolicy()
        self.say = say
        self._sleep = sleep

    def _call(self, op: str, result: FetchResult, what: str, **kwargs: Any) -> dict[str, Any]:
        if self._client is None:
            self._client = self._factory()
            self.region = self.region or getattr(
                getattr(self._client, "meta", None), "region_name", None)
        method = getattr(self._client, op)
        region = self.region or "?"

        def on_retry(n: int, delay: float, exc: BaseException) -> None:
            kind = ("throttled" if is_throttle(exc) else
                    "failed on the AWS side" if is_server_error(exc) else "unreachable")
            self.say(f"Parameter Store {op} {kind} ({_code(exc) or type(exc).__name__}) for "
                     f"{what} in {region}; retry {n}/{self.policy.max_attempts - 1} "
                     f"in {delay:.2f}s")

        try:
            response: dict[str, Any] = call_with_retries(
                lambda: method(**kwargs), retryable=retryable, policy=self.policy,
                stats=result.stats, on_retry=on_retry, sleep=self._sleep,
            )
        except RetriesExhausted as exc:
            raise InfraError(
                f"Parameter Store {op} for {what} in region {region} {exc.why}; last error: "
                f"{_code(exc.last) or type(exc.last).__name__}: {exc.last}",
                hint="AWS is throttling, failing or unreachable; retry later, or raise "
                "TIERS_SSM_MAX_ATTEMPTS / TIERS_SSM_MAX_SECONDS",
            ) from None
        return response

    def fetch(
        self,
        wanted: Sequence[Wanted],
        path: str | None = None,
        *,
        already_set: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """Read ``wanted`` (batched) and ``path`` (paged); never overrides ``already_set``."""
        started = time.monotonic()
        result = FetchResult()
        already = already_set or {}
        try:
            self._fetch_names(wanted, result)
            if path:
                self._fetch_path(path, result, already, {w.var for w in wanted})
        except SetupProblem as exc:
            for w in wanted:
                result.problems.setdefault(w.var, str(exc))
            if path:
                result.general.append(f"SSM path {path}: {exc}")
        result.seconds = time.monotonic() - started
        return result

    def _fetch_names(self, wanted: Sequence[Wanted], result: FetchResult) -> None:
        by_param: dict[str, list[str]] = {}
        for w in wanted:
            by_param.setdefault(w.parameter, []).append(w.var)
        for batch in batches(by_param):
            try:
                response = self._call("get_parameters", result, ", ".join(batch), Names=batch,
                                      WithDecryption=True)
            except SetupProblem:
                raise
            except InfraError:
                raise
            except Exception as exc:
                _raise_if_setup_problem(exc)
                reason = describe_failure(exc, self.region)
                for name in batch:
                    for var in by_param[name]:
                        result.problems[var] = reason
                continue
            found: dict[str, str] = {}
            for param in response.get("Parameters", []):
                found[param["Name"]] = param["Value"]
                if param.get("Selector"):
                    found[param["Name"] + param["Selector"]] = param["Value"]
                if param.get("ARN"):
                    found[param["ARN"]] = param["Value"]
            for name in batch:
                for var in by_param[name]:
                    if name in found:
                        result.values[var] = found[name]
                        result.parameters[var] = name
                    else:
                        result.problems[var] = not_found(self.region)

    def _fetch_path(
        self, path: str, result: FetchResult, already: Mapping[str, str], explicit: set[str]
    ) -> None:
        prefix = "/" + path.strip("/") if path.strip("/") else "/"
        token: str | None = None
        seen: dict[str, str] = {}
        while True:
            kwargs: dict[str, Any] = {"Path": prefix, "Recursive": True,
                                      "WithDecryption": True, "MaxResults": 10}
            if token:
                kwargs["NextToken"] = token
            try:
                response = self._call("get_parameters_by_path", result, f"path {prefix}",
                                      **kwargs)
            except InfraError:
                raise
            except Exception as exc:
                _raise_if_setup_problem(exc)
                result.general.append(
                    f"SSM path {prefix}: {describe_failure(exc, self.region)}")
                return
            for param in response.get("Parameters", []):
                name = param["Name"]
                var = env_name_for(name)
                if var in seen and seen[var] != name:
                    result.general.append(
                        f"SSM path {prefix}: {seen[var]} and {name} both map to {var}")
                    continue
                seen[var] = name
                if var in explicit:
                    continue  # an explicit EnvVar.ssm mapping wins over the path
                if already.get(var):
                    result.notes.append(f"{var}: already set; {name} not used")
                    continue
                result.values[var] = param["Value"]
                result.parameters[var] = name
            token = response.get("NextToken")
            if not token:
                break
        if not seen:
            result.notes.append(f"SSM path {prefix} holds no parameters")
