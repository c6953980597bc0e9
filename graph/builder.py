"""Wiring: the agent nodes, the three bounded loops as conditional edges, and compilation.

    prepare -> design -> grounding -> allocate -> diagnose -> review -> orchestrator ==> executor -> verifier
                 ^           |                     |  ^  |       |  (human,     ^   |  (one task per     |
                 +-----------+ rejected            |  adjust     |   optional)  |   |   sample, at once) |
                 +---------------------------------+ no capacity |              |   +--> assemble        |
                 +------------------------------------------------+ rejected    +------------------------+
                                                                         replenish: new draws and repairs

The orchestrator fans each round out to executor tasks (Send) that realise and check one sample each;
the verifier decides the round's verdicts and sends repairs and replacements back to the orchestrator.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.allocation import make_adjust_node, make_allocate_node, make_diagnose_node
from agents.design import make_design_node
from agents.executor import make_executor_node
from agents.grounding import make_grounding_node
from agents.llm import LLMFactory
from agents.orchestrator import make_orchestrator_node
from agents.resources import store_for
from agents.review import review
from agents.verifier import make_verifier_node
from graph.lifecycle import assemble, make_prepare_node
from state.context import MAX_CONCURRENCY, Context
from state.graph_state import BuildState, InputState, OutputState

# Each round takes three steps (orchestrator, executor tasks, verifier); the state's own counters
# bound every loop, this only stops a bug from spinning forever.
RECURSION_LIMIT = 100_000


def _timed(name: str, node: Callable) -> Callable:
    """Record each node's wall time in the run's trace, for the summary's durations."""

    @functools.wraps(node)
    def wrapper(state, runtime):
        start = time.perf_counter()
        out = node(state, runtime)
        run_dir = state.get("run_dir") or getattr(out, "update", None) and out.update.get("run_dir")
        if run_dir:
            store_for(run_dir).trace(name, time.perf_counter() - start)
        return out

    return wrapper


def build_graph(*, checkpointer: BaseCheckpointSaver | None = None, get_llm: LLMFactory | None = None,
                confine_paths: bool = True) -> CompiledStateGraph:
    """The benchmark-building graph. `get_llm(model_name)` builds chat models for the LLM deciders.
    `confine_paths` holds each run's out_dir and pool to the server roots (graph/run_dirs.py): on for
    anything a remote caller can reach; the CLI turns it off for its own user's paths."""
    nodes = {
        "prepare": make_prepare_node(confine_paths),
        "design": make_design_node(get_llm),
        "grounding": make_grounding_node(get_llm),
        "allocate": make_allocate_node(get_llm),
        "diagnose": make_diagnose_node(get_llm),
        "adjust": make_adjust_node(get_llm),
        "review": review,
        "orchestrator": make_orchestrator_node(),
        "executor": make_executor_node(get_llm),
        "verifier": make_verifier_node(),
        "assemble": assemble,
    }
    builder = StateGraph(BuildState, context_schema=Context, input_schema=InputState, output_schema=OutputState)
    for name, node in nodes.items():
        builder.add_node(name, _timed(name, node))
    builder.add_edge(START, "prepare")
    builder.add_edge("allocate", "diagnose")
    builder.add_edge("adjust", "diagnose")
    builder.add_edge("executor", "verifier")
    builder.add_edge("assemble", END)
    graph = builder.compile(checkpointer=checkpointer, name="benchmark_agent")
    # LangGraph runs a round's executor tasks on a thread pool that would otherwise have cpu_count + 4
    # threads; the orchestrator bounds a round by the context's concurrency, so let every task start.
    return graph.with_config(recursion_limit=RECURSION_LIMIT, max_concurrency=MAX_CONCURRENCY)
