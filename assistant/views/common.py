"""What the assistant pages share: access decorators, lookups that answer 404, and how
stored messages (citations, cards, feedback) are shown to one viewer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from assistant.models import Conversation, Feedback, Handoff, Message, MessageRole
from assistant.permissions import can_give_feedback
from assistant.selectors import conversation_get, message_get
from assistant.services.answering import COMMAND_MODEL_NAME, EXTRACTIVE_MODEL_NAME
from forms_app.models import FormDefinition, SubmissionStatus
from forms_app.permissions import submissions_visible_to
from forms_app.selectors import definition_get
from knowledge.customers.selectors import customers_visible_to
from knowledge.permissions import documents_visible_to
from portal.permissions import Action, can
from portal.views.decorators import require_action

MODEL_LABELS = {
    EXTRACTIVE_MODEL_NAME: "Extracted from the documents (no language model)",
    COMMAND_MODEL_NAME: "Command",
}


def portal_page(action: Action) -> Callable[[Any], Any]:
    """Sign-in, the portal itself (API-only accounts have none), then ``action``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        return require_action(Action.USE_PORTAL)(require_action(action)(view))

    return decorator


def portal_page_any(*actions: Action) -> Callable[[Any], Any]:
    """Sign-in, the portal, then any one of ``actions`` (the selectors decide the rows)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not any(can(request.user, action) for action in actions):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return require_action(Action.USE_PORTAL)(wrapped)

    return decorator


def is_fragment(request: HttpRequest) -> bool:
    """The page's script asks for a piece of HTML to swap in, not a whole page."""
    return request.headers.get("X-Fragment") == "1"


def wants_stream(request: HttpRequest) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def error_text(error: ValidationError) -> str:
    """A service's validation error as one sentence for a person."""
    if hasattr(error, "error_dict"):
        return " ".join(m for messages_ in error.message_dict.values() for m in messages_)
    return " ".join(error.messages)


def safe_next(request: HttpRequest, default: str) -> str:
    """A ``next`` URL of this site only (never an open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def conversation_or_404(user: Any, pk: int) -> Conversation:
    try:
        return conversation_get(user, pk)
    except Conversation.DoesNotExist as missing:  # forbidden answers like missing
        raise Http404("No such conversation.") from missing


def message_or_404(user: Any, pk: int) -> Message:
    try:
        return message_get(user, pk)
    except Message.DoesNotExist as missing:  # forbidden answers like missing
        raise Http404("No such message.") from missing


def conversation_label(conversation: Conversation, first_question: str | None = None) -> str:
    """The title, else the start of the first question, else a number."""
    if conversation.title:
        return conversation.title
    if first_question:
        text = " ".join(first_question.split())
        return text if len(text) <= 80 else text[:79] + "…"
    return f"Conversation {conversation.pk}"


def labelled_conversations(conversations: Iterable[Conversation]) -> list[dict[str, Any]]:
    """Each conversation with its label (untitled ones by their first question, one query)."""
    rows = list(conversations)
    untitled = [c.pk for c in rows if not c.title]
    first: dict[int, str] = {}
    if untitled:
        first = dict(
            Message.objects.filter(conversation_id__in=untitled, role=MessageRole.USER)
            .order_by("conversation_id", "created_at", "id")
            .distinct("conversation_id")
            .values_list("conversation_id", "content")
        )
    return [{"c": c, "label": conversation_label(c, first.get(c.pk))} for c in rows]


def _humanize(key: str) -> str:
    return key.replace("_", " ").strip().capitalize() or key


class _Viewer:
    """What one viewer may open among the objects the messages refer to (a query each)."""

    def __init__(self, user: Any, messages: list[Message]) -> None:
        self.user = user
        documents: set[int] = set()
        customers: set[int] = set()
        submissions: set[int] = set()
        for message in messages:
            for citation in message.citations or []:
                if citation.get("type", "chunk") == "chunk" and citation.get("document_id"):
                    documents.add(int(citation["document_id"]))
                elif citation.get("type") == "customer" and citation.get("customer_id"):
                    customers.add(int(citation["customer_id"]))
            for card in message.cards or []:
                if card.get("type") in ("customer", "prefill") and card.get("customer_id"):
                    customers.add(int(card["customer_id"]))
                if card.get("type") == "prefill" and card.get("submission_id"):
                    submissions.add(int(card["submission_id"]))
        self.documents = self._ids(documents_visible_to(user), documents)
        self.customers = self._ids(customers_visible_to(user), customers)
        # The drafts' status now (a pre-filled draft may have been submitted since).
        self.submissions: dict[int, str] = (
            dict(
                submissions_visible_to(user).filter(pk__in=submissions).values_list("pk", "status")
            )
            if submissions
            else {}
        )
        self._labels: dict[str, dict[str, str]] = {}

    @staticmethod
    def _ids(queryset: Any, wanted: set[int]) -> set[int]:
        if not wanted:
            return set()
        return set(queryset.filter(pk__in=wanted).values_list("pk", flat=True))

    def labels(self, slug: str) -> dict[str, str]:
        """Field labels of a form (keys read as words when the viewer may not fill it)."""
        if slug not in self._labels:
            try:
                definition = definition_get(self.user, slug)
            except FormDefinition.DoesNotExist:
                self._labels[slug] = {}
            else:
                self._labels[slug] = {f.key: f.label for f in definition.fields.all()}
        return self._labels[slug]


def _citation_rows(viewer: _Viewer, message: Message) -> list[dict[str, Any]]:
    rows = []
    for citation in message.citations or []:
        number = citation.get("n")
        if not isinstance(number, int):
            continue
        preview_url = reverse("assistant:citation_preview", args=[message.pk, number])
        if citation.get("type") == "customer":
            customer_id = int(citation.get("customer_id") or 0)
            readable = customer_id in viewer.customers
            rows.append(
                {
                    "n": number,
                    "type": "customer",
                    "title": citation.get("title", "") if readable else "Customer record",
                    "readable": readable,
                    "url": reverse("customers:detail", args=[customer_id]) if readable else "",
                    "preview_url": preview_url,
                }
            )
            continue
        document_id = int(citation.get("document_id") or 0)
        readable = document_id in viewer.documents
        rows.append(
            {
                "n": number,
                "type": "chunk",
                "title": citation.get("title") or f"Document {document_id}",
                "version": citation.get("version"),
                "page": citation.get("page"),
                "readable": readable,
                "url": reverse("knowledge:document_detail", args=[document_id]) if readable else "",
                "preview_url": preview_url,
            }
        )
    return rows


def _card_rows(
    viewer: _Viewer, message: Message, handoffs: dict[int, Handoff]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for card in message.cards or []:
        kind = card.get("type")
        if kind == "prefill":
            labels = viewer.labels(str(card.get("form_slug", "")))

            def named(keys: Iterable[str], labels: dict[str, str] = labels) -> list[str]:
                return [labels.get(key) or _humanize(key) for key in keys or []]

            submission_id = int(card.get("submission_id") or 0)
            status = viewer.submissions.get(submission_id)
            visible = status is not None
            customer_visible = int(card.get("customer_id") or 0) in viewer.customers
            rows.append(
                {
                    "type": "prefill",
                    "form": card.get("form", ""),
                    "customer": card.get("customer", "") if customer_visible else "",
                    "submission_id": submission_id,
                    "url": reverse("forms_app:submission_detail", args=[submission_id])
                    if visible
                    else "",
                    "is_draft": status in (None, SubmissionStatus.DRAFT),
                    "status": SubmissionStatus(status).label if status else "",
                    "from_record": named(card.get("from_record", [])),
                    "from_conversation": named(card.get("from_conversation", [])),
                    "masked": named(card.get("masked", [])),
                    "dropped": list(card.get("dropped") or []),
                }
            )
        elif kind == "handoff":
            handoff = handoffs.get(int(card.get("handoff_id") or 0))
            rows.append(
                {
                    "type": "handoff",
                    "handoff_id": card.get("handoff_id"),
                    "handoff": handoff,
                    "status": handoff.get_status_display() if handoff else card.get("status", ""),
                    "reason": card.get("reason", ""),
                    "region": card.get("region", ""),
                }
            )
        elif kind == "customer":
            customer_id = int(card.get("customer_id") or 0)
            visible = customer_id in viewer.customers
            rows.append(
                {
                    "type": "customer",
                    "visible": visible,
                    "customer_number": card.get("customer_number", "") if visible else "",
                    "name": card.get("name", "") if visible else "",
                    "url": reverse("customers:detail", args=[customer_id]) if visible else "",
                }
            )
        elif kind == "notice":
            rows.append({"type": "notice", "text": card.get("text", "")})
    return rows


def message_rows(
    user: Any,
    conversation: Conversation,
    messages: list[Message],
    *,
    question_before: str = "",
) -> list[dict[str, Any]]:
    """How each message shows for ``user``: citations, cards and the feedback they gave.

    ``question_before`` is the question asked before the first message (for a fragment
    holding one answer), so that a failed answer can offer to ask it again."""
    viewer = _Viewer(user, messages)
    handoffs = {h.pk: h for h in conversation.handoffs.select_related("assignee")}
    given = {
        f.message_id: f
        for f in Feedback.objects.filter(user_id=user.pk, message__in=[m.pk for m in messages])
    }
    rows = []
    question = question_before
    for message in messages:
        message.conversation = conversation  # already checked; saves a query each
        if message.role == MessageRole.USER:
            question = message.content
            rows.append({"m": message, "is_user": True})
            continue
        rows.append(
            {
                "m": message,
                "is_user": False,
                "question": question,
                "model_label": MODEL_LABELS.get(message.model_name, message.model_name),
                "citations": _citation_rows(viewer, message),
                "cards": _card_rows(viewer, message, handoffs),
                "tools": list(message.tool_calls or []),
                "feedback": given.get(message.pk),
                "can_feedback": can_give_feedback(user, message),
            }
        )
    return rows
