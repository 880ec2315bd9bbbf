"""Layout of a component graph for an inline SVG: one column per start wave, edges from upstream to dependent.

Presentation only: the waves and dependencies come from the resolver (templates_app.resolver.template_graph or a
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
