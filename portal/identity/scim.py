"""SCIM 2.0 provisioning (RFC 7643/7644) at /scim/v2/: the protocol is scim2-server's.

scim2-server (with scim2-models) reads the requests, applies PATCH operations and filters,
pages, and writes the responses and errors; this module gives it the portal's schemas, a
storage over the database, and the bearer-token check. The writes go through
``portal.identity.provisioning`` (audited; deactivation takes effect at once).

The schemas published are the core User and Group schemas cut down to what the portal keeps:
User ``userName``, ``name.givenName``, ``name.familyName``, ``displayName``, ``active``,
``emails`` (value, type, primary), ``externalId`` and the read-only ``groups``; Group
``displayName``, ``members`` and ``externalId``. Providers send more (title, phone numbers,
addresses, the enterprise extension): those attributes are dropped before the request is
read, so that a provider's default attribute mapping works and nothing the portal does not
need about its staff is stored (``_dropped``).
"""

from __future__ import annotations

import json
import logging
import uuid
from functools import cache
from http import HTTPStatus
from typing import Any, Union, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    External,
    Filter,
    InvalidValueException,
    NotFoundException,
    Patch,
    Reference,
    Resource,
    ResourceType,
    ResponseParameters,
    SCIMException,
    ScimFilter,
    ScimProvider,
    SearchRequest,
    ServiceProviderConfig,
    Sort,
    UnauthorizedException,
    UniquenessException,
)
from scim2_models.path import CompareOperator, Comparison
from scim2_server.applications.base import BaseApplication
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.service import ScimService
from scim2_server.storage import ScimStorage, SearchPage
from scim2_server.utils import load_default_resource_types, load_default_schemas, parametrize

from portal.identity import provisioning
from portal.models import ScimAccount, ScimGroup, ScimToken
from portal.validation import InvalidText, check_data, check_text

log = logging.getLogger(__name__)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
# The attributes kept (and their sub-attributes): everything else is dropped on the way in.
KEPT: dict[str, dict[str, set[str] | None]] = {
    USER_SCHEMA: {
        "username": None,
        "name": {"givenname", "familyname"},
        "displayname": None,
        "active": None,
        "emails": {"value", "type", "primary"},
        "groups": {"value", "$ref", "display", "type"},
    },
    # RFC 7643 §8.7.1: a member is its value, $ref and type.
    GROUP_SCHEMA: {"displayname": None, "members": {"value", "$ref", "type"}},
}
COMMON = {"schemas", "id", "externalid", "meta"}
MAX_START = 2**31  # a larger startIndex is past the end anyway
BEARER = AuthenticationScheme(
    type=AuthenticationScheme.Type.oauthbearertoken,
    name="OAuth Bearer Token",
    description="The provisioning client's token (manage.py scim_token create NAME).",
    spec_uri=Reference[External]("https://datatracker.ietf.org/doc/html/rfc6750"),
    primary=True,
)


@cache
def provider() -> ScimProvider:
    schemas = load_default_schemas()
    kept = []
    for urn, attributes in KEPT.items():
        schema = schemas[urn].model_copy(deep=True)
        schema.attributes = [
            a for a in schema.attributes or [] if (a.name or "").lower() in attributes
        ]
        for attribute in schema.attributes:
            subs = attributes[(attribute.name or "").lower()]
            if subs is not None:
                attribute.sub_attributes = [
                    s for s in attribute.sub_attributes or [] if (s.name or "").lower() in subs
                ]
        kept.append(schema)
    resource_types = load_default_resource_types()
    resource_types["User"].schema_extensions = None  # the enterprise extension is not kept
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=settings.SCIM_MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[BEARER],
    )
    return ScimProvider.from_discovery(kept, list(resource_types.values()), config)


@cache
def _service() -> ScimService:
    return ScimService(provider())


class _Application(BaseApplication):
    """scim2-server's error handling and response headers, without its WSGI reading."""


@cache
def _application() -> _Application:
    return _Application(provider(), _service())


# --- what the provider sends that the portal does not keep ------------------------------


def _resource_schema(path: str) -> str | None:
    head = path.strip("/").split("/")[0].lower()
    return {"users": USER_SCHEMA, "groups": GROUP_SCHEMA}.get(head)


def _keep_attributes(schema: str, value: dict[str, Any]) -> dict[str, Any]:
    kept = KEPT[schema]
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = key.lower()
        if name == schema.lower() and isinstance(item, dict):
            # {"urn:...:core:2.0:User": {"active": false}}: the core schema as a container.
            result[key] = _keep_attributes(schema, item)
            continue
        if name.startswith(schema.lower() + ":"):  # "urn:...:core:2.0:User:userName"
            name = name.removeprefix(schema.lower() + ":")
        if name == "schemas" and isinstance(item, list):
            result[key] = [s for s in item if isinstance(s, str) and s.lower() == schema.lower()]
        elif name in COMMON:
            result[key] = item
        elif name in kept:
            result[key] = _keep_sub(kept[name], item)
    return result


def _keep_sub(subs: set[str] | None, item: Any) -> Any:
    if subs is None:
        return item
    if isinstance(item, dict):
        return {k: v for k, v in item.items() if k.lower() in subs}
    if isinstance(item, list):
        return [_keep_sub(subs, entry) for entry in item]
    return item


def _path_kept(schema: str, path: str) -> bool:
    name = path.strip()
    if name.lower() == schema.lower():
        return True  # the core schema itself: its value is filtered like a body
    if name.lower().startswith("urn:"):
        if not name.lower().startswith(schema.lower() + ":"):
            return False  # another schema's attribute (an extension)
        name = name[len(schema) + 1 :]
    head = name.split("[")[0].split(".")[0].lower()
    kept = KEPT[schema]
    if head not in kept and head not in COMMON:
        return False
    subs = kept.get(head)
    if subs is not None and "." in name.split("[")[0]:
        return name.split("[")[0].split(".")[1].lower() in subs
    return True


def _dropped(request: ScimRequest) -> ScimRequest:
    """``request`` without the attributes the portal does not keep (see the module's doc).
    A PATCH left with no operation becomes a GET of the resource (nothing to change)."""
    schema = _resource_schema(request.path)
    if (
        schema is None
        or request.method.upper() not in ("POST", "PUT", "PATCH")
        or request.path.rstrip("/").lower().endswith("/.search")  # a search, not a resource
    ):
        return request
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        return request  # the library answers invalidSyntax
    if not isinstance(body, dict):
        return request
    if request.method.upper() == "PATCH":
        operations = body.get("Operations")
        if not isinstance(operations, list):
            return request
        kept_operations = []
        for operation in operations:
            if not isinstance(operation, dict):
                kept_operations.append(operation)
                continue
            path = operation.get("path")
            if isinstance(path, str) and path:
                if path.strip().lower() == schema.lower() and isinstance(
                    operation.get("value"), dict
                ):
                    kept_operations.append(
                        {**operation, "value": _keep_attributes(schema, operation["value"])}
                    )
                elif _path_kept(schema, path):
                    kept_operations.append(operation)
            elif isinstance(operation.get("value"), dict):
                value = _keep_attributes(schema, operation["value"])
                if value:
                    kept_operations.append({**operation, "value": value})
            else:
                kept_operations.append(operation)
        if operations and not kept_operations:
            request.method, request.body = "GET", b""
            return request
        body["Operations"] = kept_operations
    else:
        body = _keep_attributes(schema, body)
    request.body = json.dumps(body).encode()
    return request


# --- the storage ---------------------------------------------------------------------------


def _accounts() -> QuerySet[ScimAccount]:
    return (
        ScimAccount.objects.filter(deleted_at__isnull=True)
        .select_related("user")
        .prefetch_related(Prefetch("groups", queryset=ScimGroup.objects.order_by("display_name")))
        .order_by("created_at", "pk")
    )


def _groups() -> QuerySet[ScimGroup]:
    members = ScimAccount.objects.select_related("user").order_by("created_at", "pk")
    return ScimGroup.objects.prefetch_related(Prefetch("members", queryset=members)).order_by(
        "created_at", "pk"
    )


def _meta(row: ScimAccount | ScimGroup, resource_type: str) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "created": row.created_at.isoformat(),
        "lastModified": row.updated_at.isoformat(),
        "version": f'W/"{row.version}"',
    }


def _user_resource(account: ScimAccount) -> dict[str, Any]:
    user = account.user
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "id": str(account.scim_id),
        "userName": user.get_username(),
        "active": user.is_active,
        "meta": _meta(account, "User"),
    }
    if account.external_id:
        body["externalId"] = account.external_id
    name = {
        key: value
        for key, value in (("givenName", user.first_name), ("familyName", user.last_name))
        if value
    }
    if name:
        body["name"] = name
    if account.display_name:
        body["displayName"] = account.display_name
    if account.emails:
        body["emails"] = [
            {k: v for k, v in email.items() if v not in ("", None)} for email in account.emails
        ]
    groups = [
        {
            "value": str(group.scim_id),
            "$ref": f"Groups/{group.scim_id}",
            "display": group.display_name,
            "type": "direct",
        }
        for group in account.groups.all()
    ]
    if groups:
        body["groups"] = groups
    return body


def _group_resource(group: ScimGroup) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": str(group.scim_id),
        "displayName": group.display_name,
        "meta": _meta(group, "Group"),
    }
    if group.external_id:
        body["externalId"] = group.external_id
    members = [
        {
            "value": str(account.scim_id),
            "$ref": f"Users/{account.scim_id}",
            "type": "User",
        }
        for account in group.members.all()
        if account.deleted_at is None
    ]
    if members:
        body["members"] = members
    return body


def _user_data(resource: Resource[Any], *, creating: bool) -> provisioning.UserData:
    body = resource.model_dump()
    if body.get("active") is None and not creating:
        # Removed by a PATCH, or left out of a PUT: an account is active or not (a new one
        # is active unless the provider says otherwise).
        raise InvalidValueException(
            detail="active must be true or false (set it to false to deactivate the account)."
        )
    name = body.get("name") or {}
    return provisioning.UserData(
        user_name=str(body.get("userName") or ""),
        active=body.get("active") is not False,
        given_name=str(name.get("givenName") or ""),
        family_name=str(name.get("familyName") or ""),
        display_name=str(body.get("displayName") or ""),
        external_id=str(body.get("externalId") or ""),
        emails=[email for email in body.get("emails") or [] if isinstance(email, dict)],
    )


def _group_data(resource: Resource[Any]) -> provisioning.GroupData:
    body = resource.model_dump()
    members = []
    for member in body.get("members") or []:
        if member.get("type") not in (None, "User"):
            raise InvalidValueException(detail="Only users can be members (no nested groups).")
        members.append(str(member.get("value") or ""))
    return provisioning.GroupData(
        display_name=str(body.get("displayName") or ""),
        external_id=str(body.get("externalId") or ""),
        member_ids=members,
    )


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


# Filters a provider sends to find a resource ("userName eq ..."), answered by the database;
# any other filter is evaluated by scim2-models over the resources (RFC 7644 §3.4.2.2).
_EQUALITY: dict[str, dict[str, tuple[str, bool]]] = {
    "User": {
        "username": ("user__username__iexact", False),
        "externalid": ("external_id", True),
        "id": ("scim_id", True),
    },
    "Group": {
        "displayname": ("display_name__iexact", False),
        "externalid": ("external_id", True),
        "id": ("scim_id", True),
    },
}


def _equality_lookup(resource_type: str, search: SearchRequest[Any]) -> Q | None:
    scim_filter = search.filter
    if scim_filter is None:
        return Q()
    node = scim_filter.ast
    if not (
        isinstance(node, Comparison)
        and node.op == CompareOperator.eq
        and isinstance(node.value, str)
        and node.attr_path.sub_attr is None
        and node.attr_path.uri in (None, USER_SCHEMA, GROUP_SCHEMA)
    ):
        return None
    lookup = _EQUALITY[resource_type].get(node.attr_path.attr.lower())
    if lookup is None:
        return None
    field, _ = lookup
    value: str | None = node.value
    if field == "scim_id":
        value = _uuid_or_none(node.value)
        if value is None:
            return Q(pk__in=[])
    return Q(**{field: value})


class PortalStorage(ScimStorage):
    """The provisioned accounts and groups, as SCIM resources. One per request: it knows
    the provisioning client's token, which every write names in the audit trail."""

    def __init__(self, token: ScimToken) -> None:
        self.token = token

    def operation(self) -> Any:
        return transaction.atomic()

    def _model(self, resource_type: ResourceType) -> type[Resource[Any]]:
        return _service().get_model(resource_type)

    def _resource(self, resource_type: ResourceType, row: Any) -> Resource[Any]:
        body = _user_resource(row) if resource_type.name == "User" else _group_resource(row)
        return self._model(resource_type).model_validate(body)

    def _row(self, resource_type: ResourceType, resource_id: str | None) -> Any:
        scim_id = _uuid_or_none(str(resource_id or ""))
        rows = _accounts() if resource_type.name == "User" else _groups()
        if transaction.get_connection().in_atomic_block:
            # Inside an operation (PUT, PATCH, DELETE read the resource, change it, write
            # it back): the row stays locked until the write, so that two concurrent
            # changes are applied one after the other, never on the same old state.
            rows = rows.select_for_update(of=("self",))
        row = rows.filter(scim_id=scim_id).first() if scim_id else None
        if row is None:
            raise NotFoundException(detail=f"{resource_type.name} {resource_id!r} not found")
        return row

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        return self._resource(resource_type, self._row(resource_type, resource_id))

    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        start = min(search_request.start_index_0 or 0, MAX_START)
        stop = None if search_request.count is None else start + search_request.count
        if len(resource_types) == 1:
            resource_type = resource_types[0]
            lookup = _equality_lookup(str(resource_type.name), search_request)
            if lookup is not None:  # answered by the database
                rows = self._rows(resource_type).filter(lookup)
                page = [self._resource(resource_type, row) for row in rows[start:stop]]
                return SearchPage(rows.count(), page)
        resources = [
            self._resource(resource_type, row)
            for resource_type in resource_types
            for row in self._rows(resource_type).iterator(500)
        ]
        scim_filter = search_request.filter
        if scim_filter is not None and not scim_filter.models and resources:
            # A search at the root (/.search): the filter is bound to every type searched.
            models = tuple(dict.fromkeys(type(resource) for resource in resources))
            scim_filter = parametrize(ScimFilter, Union[models])(str(scim_filter))  # noqa: UP007
        found = [r for r in resources if scim_filter is None or scim_filter.match(r)]
        return SearchPage(len(found), found[start:stop])

    def _rows(self, resource_type: ResourceType) -> QuerySet[Any]:
        return _accounts() if resource_type.name == "User" else _groups()

    def _write(self, call: Any) -> Any:
        try:
            return call()
        except provisioning.Conflict as conflict:
            raise UniquenessException(detail=str(conflict)) from conflict
        except ValidationError as invalid:
            detail = "; ".join(
                f"{key}: {' '.join(messages)}" for key, messages in invalid.message_dict.items()
            )
            raise InvalidValueException(detail=detail) from invalid
        except (ScimAccount.DoesNotExist, ScimGroup.DoesNotExist) as missing:
            raise NotFoundException(detail="Not found") from missing

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        if resource_type.name == "User":
            data = _user_data(resource, creating=True)
            account = self._write(
                lambda: provisioning.scim_user_create(token=self.token, data=data)
            )
            return self._resource(resource_type, self._row(resource_type, str(account.scim_id)))
        group_data = _group_data(resource)
        group = self._write(
            lambda: provisioning.scim_group_create(token=self.token, data=group_data)
        )
        return self._resource(resource_type, self._row(resource_type, str(group.scim_id)))

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        row = self._row(resource_type, resource.id)
        if resource_type.name == "User":
            data = _user_data(resource, creating=False)
            self._write(
                lambda: provisioning.scim_user_update(token=self.token, account=row, data=data)
            )
        else:
            group_data = _group_data(resource)
            self._write(
                lambda: provisioning.scim_group_update(token=self.token, group=row, data=group_data)
            )
        return self._resource(resource_type, self._row(resource_type, resource.id))

    def delete(
        self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None
    ) -> None:
        row = self._row(resource_type, resource_id)
        if resource_type.name == "User":
            self._write(lambda: provisioning.scim_user_delete(token=self.token, account=row))
        else:
            self._write(lambda: provisioning.scim_group_delete(token=self.token, group=row))


# --- serving a request ---------------------------------------------------------------------


def _authenticate(request: ScimRequest) -> ScimToken:
    scheme, _, key = (request.header("Authorization") or "").partition(" ")
    token = (
        provisioning.scim_token_authenticate(key.strip()) if scheme.lower() == "bearer" else None
    )
    if token is None:
        raise UnauthorizedException(detail="A valid provisioning bearer token is required.")
    return token


def _check_body(request: ScimRequest) -> None:
    """A NUL, a lone surrogate or JSON nested too deep anywhere in the body (or the query)
    is a clear 400, as on every other route (``portal.validation``), never a database
    error."""
    try:
        for value in request.query.values():
            check_text(value, "The query")
        if request.body:
            check_data(json.loads(request.body))
    except InvalidText as invalid:
        raise InvalidValueException(detail=str(invalid)) from invalid
    except (ValueError, RecursionError):
        return  # not JSON: the library answers invalidSyntax


def serve(request: ScimRequest) -> ScimResponse:
    """The response to one SCIM request (errors included, as SCIM errors)."""
    application = _application()
    try:
        if application.needs_auth(request):
            token = _authenticate(request)
            request.subject = token
            storage: ScimStorage = PortalStorage(token)
        else:
            storage = PortalStorage(cast(ScimToken, None))  # /ServiceProviderConfig only
        _check_body(request)
        response = ScimHandler(_service(), storage).handle(_dropped(request))
    except Exception as exception:  # the library turns it into a SCIM error
        if not isinstance(exception, SCIMException):
            log.exception("SCIM request failed")
        response = application.handle_exception(request, exception)
    if response.status == HTTPStatus.UNAUTHORIZED:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="scim"')
    return application.finalize_response(request, response)
