"""How much one GraphQL operation may ask for, checked before anything runs.

- **Size**: at most ``MAX_TOKENS`` tokens (the parser stops there) and ``MAX_FIELDS`` selected
  fields, aliases and fragments counted as often as they are used: a "wide" query of thousands
  of aliases is refused.
- **Depth**: at most ``MAX_DEPTH`` nested selections (introspection excepted: GraphiQL's own
  query is deep and cheap).
- **Cost**: ariadne's cost analysis with the weights below; a list's children cost as many times
  as its ``limit`` says, so ``workflowExecutions(limit: 100) { taskExecutions {…} }`` costs
  100 × a task list. At most ``MAX_COST``.
- **Lists**: ``limit`` is 1–``MAX_LIMIT`` wherever it is taken.
"""

from __future__ import annotations

from typing import Any

from ariadne.validation import cost_validator
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    parse,
)
from graphql import validate as validate_document
from graphql.validation import specified_rules

from app.services.errors import InvalidRequest

MAX_TOKENS = 10_000
MAX_FIELDS = 1_000
MAX_DEPTH = 10
MAX_COST = 1_000
MAX_LIMIT = 100

# A field's complexity; "multipliers" names the arguments that multiply it and its children.
LIST = {"complexity": 1, "multipliers": ["limit"]}
COSTS: dict[str, dict[str, Any]] = {
    "Query": {
        "workflowDefinition": {"complexity": 1},
        "workflowDefinitions": LIST,
        "workflowExecution": {"complexity": 2},
        "workflowExecutions": LIST,
        "taskExecution": {"complexity": 1},
        "progressReport": {"complexity": 5},
        "webhooks": {"complexity": 5},
    },
    "Mutation": {
        name: {"complexity": 10}
        for name in (
            "createWorkflowDefinition",
            "updateWorkflowDefinition",
            "deleteWorkflowDefinition",
            "startWorkflowExecution",
            "cancelWorkflowExecution",
            "pauseWorkflowExecution",
            "resumeWorkflowExecution",
            "retryTaskExecution",
            "registerWebhook",
            "updateWebhook",
            "deleteWebhook",
        )
    },
    "Subscription": {
        "workflowExecutionUpdated": {"complexity": 10},
        "taskExecutionUpdated": {"complexity": 10},
        "progressReportUpdated": {"complexity": 10},
    },
    "WorkflowDefinition": {"executions": LIST, "tasks": {"complexity": 2}},
    "WorkflowExecution": {
        "workflowDefinition": {"complexity": 1},
        "taskExecutions": {"complexity": 10},
        "context": {"complexity": 2},
        "progressReport": {"complexity": 5},
        "events": LIST,
    },
}


def parse_query(_context, data: dict[str, Any]):
    """The document, or a parse error past ``MAX_TOKENS``."""
    return parse(data["query"], max_tokens=MAX_TOKENS)


def window_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(
            f"limit must be between 1 and {MAX_LIMIT}, not {limit}",
            [{"field": "limit", "message": f"Must be 1 to {MAX_LIMIT}.", "type": "invalid"}],
        )
    return limit


class QueryShape(ValidationRule):
    """Refuses an operation nested deeper than ``MAX_DEPTH`` or selecting more than
    ``MAX_FIELDS`` fields, with fragments expanded where they are used."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args):
        fragments = {
            d.name.value: d
            for d in self.context.document.definitions
            if hasattr(d, "type_condition")
        }
        depth, fields = self._measure(node.selection_set, fragments, 1, frozenset())
        name = f"'{node.name.value}'" if node.name else "The operation"
        if depth > MAX_DEPTH:
            self.report_error(
                GraphQLError(
                    f"{name} is nested {depth} levels deep; the limit is {MAX_DEPTH}", node
                )
            )
        if fields > MAX_FIELDS:  # counted until it was too many
            self.report_error(
                GraphQLError(f"{name} selects more than {MAX_FIELDS} fields, the limit", node)
            )
        return self.SKIP

    def _measure(
        self, selections: SelectionSetNode | None, fragments, level: int, seen: frozenset[str]
    ) -> tuple[int, int]:
        """(depth, fields) below ``selections``; a fragment cycle (refused by another rule)
        counts once."""
        if selections is None:
            return level - 1, 0
        depth, fields = level - 1, 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                fields += 1
                if selection.name.value.startswith("__"):  # introspection: not the data's depth
                    continue
                below, count = self._measure(selection.selection_set, fragments, level + 1, seen)
                depth, fields = (
                    max(depth, below if selection.selection_set else level),
                    fields + count,
                )
            elif isinstance(selection, InlineFragmentNode):
                below, count = self._measure(selection.selection_set, fragments, level, seen)
                depth, fields = max(depth, below), fields + count
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:
                    continue
                below, count = self._measure(
                    fragment.selection_set, fragments, level, seen | {name}
                )
                depth, fields = max(depth, below), fields + count
            if fields > MAX_FIELDS:  # stop walking a query already too wide
                break
        return depth, fields


def rules(variables: dict[str, Any] | None) -> list:
    return [QueryShape, cost_validator(MAX_COST, variables=variables, cost_map=COSTS)]


def validate(schema, document, rules=(), *, spec: bool = True) -> list[GraphQLError]:
    """The spec's rules, or (``spec=False``) the limits ``rules`` gives. The limits run only on
    a document the spec accepts, with its variables checked: the cost analysis would follow a
    fragment cycle round and round, and it reads the values of ``limit``."""
    return validate_document(schema, document, specified_rules if spec else list(rules))
