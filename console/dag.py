"""Layout of a component graph for an inline SVG: one column per start wave, edges from upstream to dependent.

Presentation only: the waves and dependencies come from the resolver (templates_app.structure.template_graph or a
deployment's plan)."""

from __future__ import annotations

from dataclasses import dataclass

NODE_WIDTH = 168
NODE_HEIGHT = 44
COLUMN_GAP = 72
ROW_GAP = 18
PADDING = 12


@dataclass(frozen=True)
class Node:
    key: str
    label: str
    x: int
    y: int
    status: str = ""

    @property
    def cx(self) -> int:
        return self.x + NODE_WIDTH // 2


@dataclass(frozen=True)
class Edge:
    path: str
    source: str
    target: str


@dataclass(frozen=True)
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT

    @property
    def description(self) -> str:
        """A text equivalent of the picture, for screen readers."""
        parts = []
        for node in self.nodes:
            upstream = [edge.source for edge in self.edges if edge.target == node.key]
            parts.append(f"{node.key} after {', '.join(upstream)}" if upstream else f"{node.key} first")
        return "; ".join(parts)


def layout(
    waves: list[list[str]],
    depends_on: dict[str, list[str]],
    *,
    labels: dict[str, str] | None = None,
    statuses: dict[str, str] | None = None,
) -> Graph:
    """Place each wave in a column (vertically centred) and route a curve from each dependency to its dependent."""
    labels = labels or {}
    statuses = statuses or {}
    tallest = max((len(wave) for wave in waves), default=0)
    height = PADDING * 2 + tallest * NODE_HEIGHT + max(0, tallest - 1) * ROW_GAP
    nodes: dict[str, Node] = {}
    for column, wave in enumerate(waves):
        column_height = len(wave) * NODE_HEIGHT + max(0, len(wave) - 1) * ROW_GAP
        top = (height - column_height) // 2
        for row, key in enumerate(wave):
            nodes[key] = Node(
                key=key,
                label=labels.get(key, ""),
                x=PADDING + column * (NODE_WIDTH + COLUMN_GAP),
                y=top + row * (NODE_HEIGHT + ROW_GAP),
                status=statuses.get(key, ""),
            )
    edges = []
    for key, upstreams in depends_on.items():
        for upstream in upstreams:
            if key not in nodes or upstream not in nodes:
                continue
            a, b = nodes[upstream], nodes[key]
            x1, y1 = a.x + NODE_WIDTH, a.y + NODE_HEIGHT // 2
            x2, y2 = b.x - 6, b.y + NODE_HEIGHT // 2
            bend = (x2 - x1) // 2
            edges.append(
                Edge(path=f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}", source=upstream, target=key)
            )
    width = PADDING * 2 + len(waves) * NODE_WIDTH + max(0, len(waves) - 1) * COLUMN_GAP
    return Graph(nodes=list(nodes.values()), edges=edges, width=width, height=height)


def deployment_layout(plan: dict, rows) -> Graph:
    """A deployment's graph as it runs: the plan's components coloured by their serving part's state, and each
    part of a change rolling out (a replacement, extra replicas or an added component) as a node of its own,
    "<key> (new)", in its component's column, so an update is visible in the picture as in the table."""
    plan_components = plan.get("components", [])
    waves = [list(wave) for wave in plan.get("waves", [])]
    depends_on = {c["key"]: list(c.get("depends_on", [])) for c in plan_components}
    labels = {c["key"]: c.get("component_id", "") for c in plan_components}
    statuses = {row.key: row.status for row in rows if not row.is_candidate}
    column = {key: i for i, wave in enumerate(waves) for key in wave}
    for row in rows:
        if not row.is_candidate:
            continue
        node = f"{row.key} (new)"
        needs = [key for key in row.depends_on or () if key in column]
        index = column.get(row.key, max((column[key] + 1 for key in needs), default=0))
        while len(waves) <= index:
            waves.append([])
        waves[index].append(node)
        column[node] = index
        depends_on[node] = needs
        labels[node] = row.component_id
        statuses[node] = row.status
    return layout(waves, depends_on, labels=labels, statuses=statuses)
