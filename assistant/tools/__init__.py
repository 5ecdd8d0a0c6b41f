"""The assistant's tools: what the model (or a typed command) may ask the portal to do.

Each tool runs as the asking user through the same selectors and services as the portal,
so it can never reach a record, field or collection the user cannot. Arguments are checked
against the tool's JSON Schema first; a refused call is reported to the model and the user
and audited. Tool descriptions are read by the model: they are instructions.

One module per tool (``search_knowledge``, ``lookup_customer``, ``prefill_form``,
``escalate_to_human``), each defining ``TOOL``; ``registry`` lists them and runs a call;
``base`` holds what they share. Adding a tool = one new module here + one line in
``registry.TOOLS``.
"""

from assistant.tools.base import Tool, ToolContext, ToolOutcome, ToolRefused
from assistant.tools.registry import TOOLS, tool_run, tool_specs

__all__ = ["TOOLS", "Tool", "ToolContext", "ToolOutcome", "ToolRefused", "tool_run", "tool_specs"]
