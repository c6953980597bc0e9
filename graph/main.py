"""Entry point for langgraph.json, Studio and `langgraph dev`: the graph without a checkpointer."""

from graph.builder import build_graph

graph = build_graph()
