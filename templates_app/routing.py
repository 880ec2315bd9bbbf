"""A template's `routing:` block: which component a deployment's stable endpoint sends requests to, and on what path.

Pure (no Django): the structure check, the resolver and the gateway share it.

```yaml
routing:
  api: orchestrator      # the component the endpoint's requests go to
  expose: chat-ui        # the component people open in a browser (shown, not routed)
  path: /v1              # prefix on the component the request path is appended to (default "/")
```

Without `api` the endpoint routes to `expose`; without either, to the template's natural entry: the first
component (in template order) of the last start wave, i.e. one that nothing else depends on and that starts
after the most others (simple-rag-v1 → `orchestrator`).
"""

from __future__ import annotations

import re

PATH_RE = re.compile(r"^/[A-Za-z0-9._~\-/]*$")


def routing_errors(routing, keys: list[str]) -> dict[str, list[str]]:
    """{field path: [reason]} for a `routing:` block against the template's component ids; empty when sound."""
    if routing is None:
        return {}
    if not isinstance(routing, dict):
        return {"routing": ["Must be an object."]}
    errors: dict[str, list[str]] = {}
    for name in ("api", "expose"):
        value = routing.get(name)
        if value is not None and value not in keys:
            errors.setdefault(f"routing.{name}", []).append(
                f"undefined component {value!r}; the template defines {', '.join(keys) or 'none'}"
            )
    path = routing.get("path")
    if path is not None and (not isinstance(path, str) or not PATH_RE.match(path) or "//" in path):
        errors.setdefault("routing.path", []).append("Must be a URL path starting with '/' (letters, digits, -._~/).")
    return errors


def resolved_routing(routing: dict | None, *, waves) -> dict:
    """The routing a plan stores: {"component", "expose", "path"} with the defaults applied."""
    routing = routing or {}
    component = routing.get("api") or routing.get("expose") or natural_entry(waves)
    path = routing.get("path") or "/"
    return {"component": component, "expose": routing.get("expose") or component, "path": path}


def natural_entry(waves) -> str:
    """The first component of the last start wave (nothing depends on it; it starts after the most others)."""
    waves = [list(wave) for wave in waves if wave]
    return waves[-1][0] if waves else ""


def plan_routing(plan: dict) -> dict:
    """A stored plan's routing; a plan stored before routing existed gets the default from its waves."""
    return plan.get("routing") or resolved_routing(None, waves=plan.get("waves") or ())
