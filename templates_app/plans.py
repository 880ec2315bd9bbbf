"""What a template resolves to: the Plan and its components, and the masking of secret values in them.

Pure data types shared by the resolver, the deployments app (which stores a plan as JSON) and the API.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from core.secrets import SECRET_MASK, mask_secrets

DEFAULT_MAX_RETRIES = 2


def template_content_of(template) -> dict:
    """A template's content: a dict is taken as it is, a model gives its `as_content()`."""
    if isinstance(template, dict):
        return template
    return template.as_content()


@dataclass(frozen=True)
class PlannedComponent:
    """One component of a plan: what to run, with what configuration, after which other components."""

    key: str
    component_ref: str
    component_id: str
    component_version: str
    depends_on: tuple[str, ...]
    job_type: str
    deployment_type: str
    config: dict
    env: dict
    resources: dict
    spec: dict
    outputs: tuple[str, ...]
    model_id: str | None
    output_refs: tuple[tuple[str, str], ...]
    optimize_with_budsim: bool = False
    output_specs: dict = field(default_factory=dict)  # {name: {"protocol", "port", "path"}}
    health_check_path: str = ""

    def to_dict(self) -> dict:
        return {
            "id": self.key,
            "key": self.key,
            "component_ref": self.component_ref,
            "component_id": self.component_id,
            "component_version": self.component_version,
            "depends_on": list(self.depends_on),
            "job_type": self.job_type,
            "deployment_type": self.deployment_type,
            "config": copy.deepcopy(self.config),
            "env": dict(self.env),
            "resources": dict(self.resources),
            "spec": copy.deepcopy(self.spec),
            "outputs": list(self.outputs),
            "output_specs": copy.deepcopy(self.output_specs),
            "model_id": self.model_id,
            "output_refs": [list(ref) for ref in self.output_refs],
            "optimize_with_budsim": self.optimize_with_budsim,
            "health_check_path": self.health_check_path,
        }


@dataclass(frozen=True)
class Plan:
    """A resolved template: validated parameters and the components in start order, grouped in waves."""

    template_id: str
    version: str
    parameters: dict
    components: tuple[PlannedComponent, ...]
    waves: tuple[tuple[str, ...], ...]
    totals: dict
    max_retries: int = DEFAULT_MAX_RETRIES
    secret_parameters: tuple[str, ...] = ()
    routing: dict = field(default_factory=dict)  # templates_app.routing.resolved_routing: where the endpoint sends

    def component(self, key: str) -> PlannedComponent:
        for component in self.components:
            if component.key == key:
                return component
        raise KeyError(key)

    def public_parameters(self) -> dict:
        """The parameters with secret values masked, for responses and logs."""
        return {
            name: SECRET_MASK if name in self.secret_parameters and value not in (None, "") else value
            for name, value in self.parameters.items()
        }

    def to_dict(self, *, redact: bool = False) -> dict:
        """The plan as JSON-ready data; `redact` masks secret values wherever they were rendered."""
        data = {
            "template_id": self.template_id,
            "version": self.version,
            "parameters": self.public_parameters() if redact else copy.deepcopy(self.parameters),
            "components": [component.to_dict() for component in self.components],
            "waves": [list(wave) for wave in self.waves],
            "totals": copy.deepcopy(self.totals),
            "max_retries": self.max_retries,
            "routing": dict(self.routing),
        }
        if redact:
            data["components"] = mask_secrets(
                data["components"], secret_values(self.parameters, self.secret_parameters)
            )
        return data

    def to_stored_dict(self) -> dict:
        """What a deployment stores: the redacted plan and the names of its secret parameters (so what to mask
        later is known, never guessed)."""
        return {**self.to_dict(redact=True), "secret_parameters": list(self.secret_parameters)}


def secret_values(parameters: dict, secret_names) -> list[str]:
    """The values of the named secret parameters that are set: what must never be shown."""
    return [str(parameters[name]) for name in secret_names if parameters.get(name) not in (None, "")]
