"""The one place that talks to the API server, through kr8s's asyncio API.

kr8s's sync API runs every call on a shared background loop and its watches
have no timeout, so a wait could not be bounded. Here the backend owns one
event loop in one daemon thread: every call is a coroutine submitted to it
with a deadline, watches run there as tasks feeding a cache that the engine's
watchdog thread reads under a lock (``check_alive`` costs no request), and
port-forwards (asyncio servers) live on the same loop.

Errors come back as the framework's own: 403 names the verb and resource and
points at the RBAC manifest, an unreachable server is an infrastructure error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ci.errors import ConfigError, InfraError

T = TypeVar("T")

RBAC_HINT = "grant the runner the Role in docs/kubernetes-backend.md (RBAC)"


class Conflict(InfraError):
    """409: the object exists already."""


def _kinds() -> dict[str, Any]:
    from kr8s.asyncio import objects

    return {"Namespace": objects.Namespace, "Pod": objects.Pod, "Service": objects.Service,
            "Secret": objects.Secret, "Job": objects.Job, "Event": objects.Event}


def _status_code(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def translate(exc: BaseException, what: str) -> Exception:
    """A kr8s/httpx failure as a ConfigError/InfraError naming ``what`` was attempted."""
    import httpx
    import kr8s

    code = _status_code(exc)
    if isinstance(exc, kr8s.ServerError):
        text = str(exc)
        if code == 403:
            return ConfigError(f"forbidden: {what}: {text}", hint=RBAC_HINT)
        if code == 401:
            return ConfigError(f"the API server rejected the credentials: {what}: {text}",
                               hint="refresh the context's credentials in the kubeconfig")
        if code == 409:
            return Conflict(f"{what}: {text}")
        return InfraError(f"the API server refused to {what} (HTTP {code}): {text}")
    if isinstance(exc, httpx.HTTPError | OSError | kr8s.APITimeoutError):
        return InfraError(f"cannot reach the Kubernetes API server to {what}: "
                          f"{type(exc).__name__}: {exc}")
    return exc if isinstance(exc, Exception) else InfraError(str(exc))


def _ref(kind: str, name: str, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, str] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"kind": kind, "metadata": meta}


class KubeClient:
    def __init__(self, kubeconfig: str, context: str, request_timeout: float = 30.0) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.request_timeout = request_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kube-client",
                                        daemon=True)
        self._thread.start()
        self._api: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._forwards: list[Any] = []
        self._closed = False

    # -- running coroutines on the client's loop --------------------------------------

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], what: str,
            timeout: float | None = None) -> T:
        if self._closed:
            raise InfraError(f"cannot {what}: the Kubernetes client was closed already")
        limit = self.request_timeout if timeout is None else timeout
        future = asyncio.run_coroutine_threadsafe(self._bounded(make, limit), self._loop)
        try:
            return future.result(timeout=limit + 5)  # a loop stopped meanwhile cannot hang us
        except TimeoutError:
            future.cancel()
            raise InfraError(f"the Kubernetes API server did not answer in time to {what}"
                             ) from None
        except (ConfigError, InfraError):
            raise
        except Exception as exc:
            raise translate(exc, what) from None

    async def _bounded(self, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        async with asyncio.timeout(timeout):
            return await make()

    def spawn(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a long-lived coroutine (a watch) on the loop until :meth:`close`."""
        def start() -> None:
            self._tasks.append(self._loop.create_task(make()))
        self._loop.call_soon_threadsafe(start)

    async def api(self) -> Any:
        if self._api is None:
            import kr8s.asyncio

            self._api = await kr8s.asyncio.api(kubeconfig=self.kubeconfig, context=self.context)
        return self._api

    def connect(self) -> str:
        """Authenticate and return the server's version (fails early, before any change)."""
        async def go() -> str:
            api = await self.api()
            version = await api.version()
            return str(version.get("gitVersion", "?"))
        return self.run(go, f"connect to context {self.context!r}")

    # -- objects ----------------------------------------------------------------------

    async def obj(self, manifest: dict[str, Any]) -> Any:
        cls = _kinds()[manifest["kind"]]
        return cls(manifest, api=await self.api())

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            obj = await self.obj(manifest)
            await obj.create()
            return dict(obj.raw)
        meta = manifest["metadata"]
        return self.run(go, f"create {manifest['kind']} {meta.get('namespace', '')}/"
                            f"{meta['name']}".replace(" /", " "))

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        async def go() -> dict[str, Any] | None:
            import kr8s

            obj = await self.obj(_ref(kind, name, namespace))
            try:
                await obj.refresh()
            except kr8s.NotFoundError:
                return None
            return dict(obj.raw)
        return self.run(go, f"read {kind} {name}")

    def list_objects(self, kind: str, namespace: str | None = None, label_selector: str = "",
             field_selector: str = "") -> list[dict[str, Any]]:
        async def go() -> list[dict[str, Any]]:
            api = await self.api()
            out = []
            async for obj in api.async_get(_kinds()[kind], namespace=namespace,
                                           label_selector=label_selector or None,
                                           field_selector=field_selector or None):
                out.append(dict(obj.raw))
            return out
        return self.run(go, f"list {kind}s" + (f" in {namespace}" if namespace else ""))

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete with background propagation; False if it was gone already."""
        async def go() -> bool:
            import kr8s

            obj = await self.obj(_ref(kind, name, namespace))
            try:
                await obj.delete(propagation_policy="Background")
            except kr8s.NotFoundError:
                return False
            return True
        return self.run(go, f"delete {kind} {name}")

    def patch(self, kind: str, name: str, patch: dict[str, Any],
              namespace: str | None = None) -> None:
        async def go() -> None:
            obj = await self.obj(_ref(kind, name, namespace))
            await obj.patch(patch)
        self.run(go, f"label {kind} {name}")

    def logs(self, namespace: str, pod: str, *, previous: bool = False,
             tail: int | None = None) -> str:
        async def go() -> str:
            obj = await self.obj({"kind": "Pod",
                                  "metadata": {"name": pod, "namespace": namespace}})
            lines = [line async for line in obj.logs(previous=previous, tail_lines=tail)]
            return "\n".join(lines)
        return self.run(go, f"read the log of pod {namespace}/{pod}")

    def can_i(self, verb: str, resource: str, namespace: str, subresource: str = "",
              group: str = "") -> tuple[bool, str]:
        """A SelfSubjectAccessReview: may the current user do this (asks, changes nothing)."""
        async def go() -> tuple[bool, str]:
            from kr8s.asyncio.objects import new_class

            review_cls = new_class("SelfSubjectAccessReview",
                                   version="authorization.k8s.io/v1", namespaced=False)
            attrs = {"verb": verb, "resource": resource}
            if namespace:
                attrs["namespace"] = namespace
            if subresource:
                attrs["subresource"] = subresource
            if group:
                attrs["group"] = group
            review = review_cls({"apiVersion": "authorization.k8s.io/v1",
                                 "kind": "SelfSubjectAccessReview", "metadata": {},
                                 "spec": {"resourceAttributes": attrs}}, api=await self.api())
            await review.create()
            status: dict[str, Any] = dict(dict(review.raw).get("status") or {})
            return bool(status.get("allowed")), str(status.get("reason") or "")
        return self.run(go, f"check permission to {verb} {resource}")

    def exec(self, namespace: str, pod: str, container: str, command: list[str],
             timeout: float = 300) -> bytes:
        """Run ``command`` in a running container; its stdout, or InfraError.

        Not kr8s's ``Pod.exec``: that first waits for the Pod's Ready condition,
        which a Job Pod whose runner has exited never regains, so it would wait
        forever for the collector. The channel protocol is read here instead
        (v4: 1 stdout, 2 stderr, 3 the final Status).
        """
        async def go() -> bytes:
            api = await self.api()
            stdout, stderr = b"", b""
            async with api.open_websocket(
                    version="v1", url=f"pods/{pod}/exec", namespace=namespace,
                    subprotocols=("v4.channel.k8s.io",),
                    params={"command": command, "container": container, "stdout": "true",
                            "stderr": "true", "stdin": "false"}) as ws:
                while True:
                    message = await ws.receive_bytes()
                    channel, data = message[0], message[1:]
                    if channel == 1:
                        stdout += data
                    elif channel == 2:
                        stderr += data
                    elif channel == 3 and data:
                        status = json.loads(data)
                        if status.get("status") == "Success":
                            return stdout
                        raise InfraError(
                            f"{' '.join(command)} in {pod}/{container} failed: "
                            f"{status.get('message', '')} {stderr.decode(errors='replace')}")
        return self.run(go, f"exec in {namespace}/{pod}/{container}", timeout=timeout)

    # -- port-forwards ----------------------------------------------------------------

    def forward(self, namespace: str, pod: str, remote_port: int, local_port: int) -> int:
        """Listen on 127.0.0.1:``local_port``; one stream per TCP connection (kr8s)."""
        async def go() -> int:
            obj = await self.obj({"kind": "Pod", "metadata": {"name": pod,
                                                              "namespace": namespace}})
            pf = obj.portforward(remote_port, local_port=local_port, address="127.0.0.1")
            port = int(await pf.start())
            self._forwards.append(pf)
            # With a fixed local port, start() returns before the listener is
            # bound, and a failed bind dies quietly in kr8s's background task.
            for _ in range(50):
                if pf.servers:
                    return port
                await asyncio.sleep(0.05)
            raise InfraError(f"cannot listen on 127.0.0.1:{local_port} for the port-forward "
                             f"to {pod} (is the port taken?)")
        return self.run(go, f"port-forward to {namespace}/{pod}:{remote_port}")

    def close(self) -> None:
        async def shutdown() -> None:
            for pf in self._forwards:
                with contextlib.suppress(Exception):  # a dead forward is fine to lose
                    await pf.stop()
            for task in self._tasks:
                task.cancel()
            if self._api is not None and self._api._session is not None:
                await self._api._session.aclose()
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # closing must never mask the run's outcome
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
