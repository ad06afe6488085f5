"""The input every template workflow takes, as a dataclass (Temporal's data converter carries it as the same JSON
object the workflows took before, so a schedule Temporal already holds still starts them). The standard library
only: the workflow sandbox imports this module too."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class WorkflowInput:
    schema: str  # the tenant's schema: the interceptors check it against the run's header
    template: str
    params: dict = field(default_factory=dict)
    config_id: int | None = None  # None for a run without a configuration (an agent run made durable)
    trigger: str = "manual"
    user_id: int | None = None

    def wire(self) -> dict:
        """As Temporal holds it (in a schedule's action, in the history)."""
        return asdict(self)
