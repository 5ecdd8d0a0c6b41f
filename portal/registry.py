"""The portal shell's registry: apps plug their pages into the portal without it knowing them.

``portal`` imports nothing from ``knowledge``, ``forms_app`` or ``assistant``. Instead, each
app's ``AppConfig.ready()`` registers (in the spirit of Wagtail's hooks):

- **menu items** (``register_menu_item``): an entry in the top navigation and/or a card under
  "What you can do" on the dashboard, shown when the user's role grants its action;
- **panels** (``register_panel``): a template plus a context function, rendered into a slot
  of a portal page: ``DASHBOARD`` (the home page) or ``CUSTOMER_DETAIL`` (the customer page,
  which gets ``customer=`` too). The context function returns ``None`` to hide the panel;
- **demo seeders** (``register_demo_seeder``): what ``manage.py seed_demo`` loads for the app;
- **operations** (docs/operations.md): **warm-ups** (``register_warmup``) run when a web or
  worker process starts (``portal.startup``), **readiness checks**
  (``register_readiness_check``) answered at ``/readyz``, and **gauges**
  (``register_metrics_gauge``) read when ``/metrics`` is scraped;
- **retention classes** (``register_retention_class``): records an app purges once their
  retention ran out, never those under a legal hold (``portal.records.retention``);
- **record sources** (``register_record_source``): what an app adds to an export for
  regulators (``portal.records.export``), e.g. conversations with their answers and sources;
- **leaver steps** (``register_deactivation_step``): what an app hands back when an account
  is deactivated (``portal.identity.provisioning.account_deactivate``), e.g. the hand-offs
  and reviews the leaver held, returned to their queues.

Registrations are keyed by name, so registering twice (tests reloading apps) replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString

from portal.permissions import Action, can
from portal.types import AnyUser

DASHBOARD = "dashboard"
CUSTOMER_DETAIL = "customer_detail"
SLOTS = frozenset({DASHBOARD, CUSTOMER_DETAIL})


@dataclass(frozen=True)
class MenuItem:
    """A destination: a navigation entry, a dashboard card, or both."""

    label: str
    url_name: str
    action: Action | None = None  # None: every signed-in portal user
    order: int = 100
    in_nav: bool = True
    description: str = ""  # a dashboard card when set
    card_title: str = ""  # the card's title, when not the label


@dataclass(frozen=True)
class Panel:
    """A piece of a portal page contributed by an app."""

    name: str
    slot: str
    template: str
    # (request, **slot arguments) -> the template's context, or None to show nothing.
    context: Callable[..., dict[str, Any] | None]
    action: Action | None = None
    order: int = 100


@dataclass(frozen=True)
class DemoSeeder:
    """Loads an app's demo data; returns the line ``seed_demo`` prints."""

    name: str
    seed: Callable[[], str]
    order: int = 100


@dataclass(frozen=True)
class Warmup:
    """Work a process does once at start instead of on its first request (load a model).
    It decides itself whether it is wanted (a setting) and must be idempotent."""

    name: str
    run: Callable[[], None]


@dataclass(frozen=True)
class ReadinessCheck:
    """One line of ``/readyz``: returns ``{"ok": bool, ...}`` with nothing personal and no
    addresses; raising counts as not ready. Must be quick and must not do the work it checks
    (report whether the model is loaded, never load it)."""

    name: str
    check: Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class MetricsGauge:
    """A Prometheus gauge computed when ``/metrics`` is scraped (e.g. rows by status):
    ``values`` returns {label values: value}, one tuple entry per label name."""

    name: str
    documentation: str
    labels: tuple[str, ...]
    values: Callable[[], dict[tuple[str, ...], float]]


@dataclass(frozen=True)
class AccessFact:
    """One column of the access review: what a user's roles and regions give them in an
    app (e.g. the collections they read), as text. It must follow from the roles and
    regions alone: the review describes each combination once."""

    name: str
    label: str
    describe: Callable[[Any], str]
    order: int = 100


@dataclass(frozen=True)
class ModelGrant:
    """Django model permissions a role's group holds (``view``, ``add``, ``change``,
    ``delete`` of ``app_label.model``): what opens the admin's pages to it. The admin
    classes still apply the app's policy to every row."""

    role: str
    app_label: str
    model: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class DeactivationStep:
    """What an app does when an account is deactivated: ``run(user, actor_label)`` returns
    the leaver's open work to its queue (audited by the app) and says how many items."""

    name: str
    run: Callable[[Any, str], int]


@dataclass(frozen=True)
class RecordFilter:
    """Which records an export holds: created in [start, end] (None: open), of one user
    (as actor, owner, submitter or reviewer) and of one customer (None: any)."""

    start: Any = None
    end: Any = None
    user_id: int | None = None
    customer_id: int | None = None

    def in_period(self, queryset: Any, field: str = "created_at") -> Any:
        """``queryset`` narrowed to rows whose ``field`` lies in [start, end]."""
        if self.start:
            queryset = queryset.filter(**{f"{field}__gte": self.start})
        if self.end:
            queryset = queryset.filter(**{f"{field}__lte": self.end})
        return queryset


@dataclass(frozen=True)
class RecordSource:
    """One file pair of an export (``<name>.jsonl`` and ``<name>.csv``): ``rows(filter)``
    yields JSON-ready dicts in a stable order; ``columns`` are the CSV's (nested values
    become JSON text)."""

    name: str
    label: str
    columns: tuple[str, ...]
    rows: Callable[[RecordFilter], Any]
    order: int = 100


@dataclass(frozen=True)
class AuditLink:
    """A link shown beside audit events of ``event_action`` in the trail, to who may
    ``requires``: e.g. "Explain" on ``assistant.answer`` events. ``url(event)``."""

    event_action: str
    label: str
    url: Callable[[Any], str]
    requires: Action


@dataclass(frozen=True)
class Holds:
    """The ids under an active legal hold, per kind (customer, user, conversation,
    submission): what a purge must leave alone."""

    ids: dict[str, frozenset[int]]

    def of(self, kind: str) -> frozenset[int]:
        return self.ids.get(kind, frozenset())


@dataclass(frozen=True)
class RetentionClass:
    """Records kept ``RETENTION_DAYS[name]`` days (0: forever), then purged by
    ``purge(cutoff, holds, batch)``: delete at most ``batch`` expired records (older than
    ``cutoff``, none under ``holds``) and return how many (the caller repeats while it gets
    a full batch; it audits the counts, never contents). ``pending(cutoff, holds)`` counts
    what would go. ``hold_kinds`` are the kinds of hold it honours."""

    name: str
    label: str
    purge: Callable[[Any, Holds, int], int]
    pending: Callable[[Any, Holds], int]
    hold_kinds: tuple[str, ...] = ()
    order: int = 100


@dataclass(frozen=True)
class HoldExpansion:
    """Records a hold covers beyond its own target, as an app knows them: e.g. the
    submission a held conversation's hand-off links, or one an open hand-off still needs.
    ``expand(holds)`` returns more ids per kind."""

    name: str
    expand: Callable[[Holds], dict[str, set[int]]]


@dataclass(frozen=True)
class ErasureStep:
    """What an app erases when a customer's personal data is erased (portal.records.erasure).

    ``blockers(customer_id, holds)`` gives the reasons it may not happen now (a record under
    a legal hold, an obligation to keep still running), in words for compliance;
    ``erase(customer_id)`` overwrites the customer's personal values in the app's records
    (in the caller's transaction, before the customer's data key is destroyed) and returns
    ``{record class: count}``; ``classes`` labels those record classes for the certificate.
    ``describe(customer_id)``, given by the app that owns the customer, names them for the
    certificate (their number; None when there is no such customer), and ``lock`` locks them
    first against concurrent writes (their data keys, then their row) and returns their
    data key ids."""

    name: str
    blockers: Callable[[int, Holds], list[str]]
    erase: Callable[[int], dict[str, int]]
    classes: dict[str, str]
    describe: Callable[[int], str | None] | None = None
    lock: Callable[[int], list[int]] | None = None
    order: int = 100


_menu: dict[str, MenuItem] = {}
_panels: dict[str, Panel] = {}
_seeders: dict[str, DemoSeeder] = {}
_warmups: dict[str, Warmup] = {}
_readiness_checks: dict[str, ReadinessCheck] = {}
_gauges: dict[str, MetricsGauge] = {}
_grants: dict[tuple[str, str, str], ModelGrant] = {}
_facts: dict[str, AccessFact] = {}
_deactivation_steps: dict[str, DeactivationStep] = {}
_record_sources: dict[str, RecordSource] = {}
_audit_links: dict[str, AuditLink] = {}
_retention_classes: dict[str, RetentionClass] = {}
_hold_expansions: dict[str, HoldExpansion] = {}
_erasure_steps: dict[str, ErasureStep] = {}


def register_menu_item(item: MenuItem) -> None:
    _menu[f"{item.url_name}|{item.label}"] = item


def register_panel(panel: Panel) -> None:
    if panel.slot not in SLOTS:
        raise ValueError(f"Unknown panel slot {panel.slot!r}; slots: {sorted(SLOTS)}")
    _panels[panel.name] = panel


def register_demo_seeder(seeder: DemoSeeder) -> None:
    _seeders[seeder.name] = seeder


def register_warmup(warmup: Warmup) -> None:
    _warmups[warmup.name] = warmup


def register_readiness_check(check: ReadinessCheck) -> None:
    _readiness_checks[check.name] = check


def register_access_fact(fact: AccessFact) -> None:
    _facts[fact.name] = fact


def access_facts() -> list[AccessFact]:
    return sorted(_facts.values(), key=lambda fact: (fact.order, fact.name))


def register_retention_class(retention: RetentionClass) -> None:
    _retention_classes[retention.name] = retention


def register_hold_expansion(expansion: HoldExpansion) -> None:
    _hold_expansions[expansion.name] = expansion


def hold_expansions() -> list[HoldExpansion]:
    return [_hold_expansions[name] for name in sorted(_hold_expansions)]


def retention_classes() -> list[RetentionClass]:
    return sorted(_retention_classes.values(), key=lambda item: (item.order, item.name))


def register_audit_link(link: AuditLink) -> None:
    _audit_links[f"{link.event_action}|{link.label}"] = link


def audit_links(user: AnyUser, events: list[Any]) -> None:
    """Give each of ``events`` the links (``event.links``: [(label, url)]) ``user`` may follow."""
    usable = [link for link in _audit_links.values() if can(user, link.requires)]
    for event in events:
        event.links = [
            (link.label, link.url(event)) for link in usable if link.event_action == event.action
        ]


def register_record_source(source: RecordSource) -> None:
    _record_sources[source.name] = source


def record_sources() -> list[RecordSource]:
    return sorted(_record_sources.values(), key=lambda source: (source.order, source.name))


def register_erasure_step(step: ErasureStep) -> None:
    _erasure_steps[step.name] = step


def erasure_steps() -> list[ErasureStep]:
    return sorted(_erasure_steps.values(), key=lambda step: (step.order, step.name))


def register_deactivation_step(step: DeactivationStep) -> None:
    _deactivation_steps[step.name] = step


def deactivation_steps() -> list[DeactivationStep]:
    return [_deactivation_steps[name] for name in sorted(_deactivation_steps)]


def register_model_grant(grant: ModelGrant) -> None:
    _grants[grant.role, grant.app_label, grant.model] = grant


def register_metrics_gauge(gauge: MetricsGauge) -> None:
    _gauges[gauge.name] = gauge


def _granted(user: AnyUser, action: Action | None) -> bool:
    return action is None or can(user, action)


def menu_items(user: AnyUser) -> list[MenuItem]:
    """Every registered destination the user may reach, in order."""
    return sorted(
        (item for item in _menu.values() if _granted(user, item.action)),
        key=lambda item: (item.order, item.label),
    )


def navigation(request: HttpRequest, active: str | None = None) -> list[dict[str, Any]]:
    """The navigation bar: one entry marked active, the longest URL the path is under (or the
    entry named ``active``, for a page reached from another section)."""
    items = [(item, reverse(item.url_name)) for item in menu_items(request.user) if item.in_nav]
    if active is not None:
        active = reverse(active)
    else:
        path = request.path
        matches = [url for _, url in items if (path == url if url == "/" else path.startswith(url))]
        active = max(matches, key=len, default=None)
    return [{"label": item.label, "url": url, "active": url == active} for item, url in items]


def dashboard_cards(user: AnyUser) -> list[dict[str, Any]]:
    return [
        {
            "title": item.card_title or item.label,
            "description": item.description,
            "url": reverse(item.url_name),
        }
        for item in menu_items(user)
        if item.description
    ]


def render_panels(request: HttpRequest, slot: str, **arguments: Any) -> list[SafeString]:
    """The slot's panels the user may see, rendered in order."""
    rendered = []
    for panel in sorted(_panels.values(), key=lambda panel: (panel.order, panel.name)):
        if panel.slot != slot or not _granted(request.user, panel.action):
            continue
        context = panel.context(request, **arguments)
        if context is not None:
            rendered.append(render_to_string(panel.template, context, request=request))
    return rendered


def demo_seeders() -> list[DemoSeeder]:
    return sorted(_seeders.values(), key=lambda seeder: (seeder.order, seeder.name))


def warmups() -> list[Warmup]:
    return sorted(_warmups.values(), key=lambda warmup: warmup.name)


def readiness_checks() -> list[ReadinessCheck]:
    return sorted(_readiness_checks.values(), key=lambda check: check.name)


def metrics_gauges() -> list[MetricsGauge]:
    return sorted(_gauges.values(), key=lambda gauge: gauge.name)


def model_grants() -> list[ModelGrant]:
    return sorted(_grants.values(), key=lambda grant: (grant.role, grant.app_label, grant.model))
