"""SCIM 2.0 provisioning over real HTTP (the live portal): bearer token, users and groups,
group → role/region mapping, deactivation that takes effect at once, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import override_settings

from assistant.models import Conversation, Handoff, HandoffStatus
from forms_app.demo import seed_forms
from forms_app.models import FormDefinition, FormSubmission, SubmissionStatus
from knowledge.customers.demo import seed_customers
from knowledge.customers.models import Customer
from portal.identity.provisioning import scim_token_create, scim_token_revoke
from portal.identity.services import group_mappings_seed
from portal.models import ApiToken, AuditEvent, ScimAccount, UserSession
from portal.permissions import Role, user_roles
from portal.services import api_token_create

from .conftest import provider_sign_in

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PASSWORD = "correct horse battery staple"


class Scim:
    def __init__(self, base: str, key: str | None) -> None:
        self.base = f"{base}/scim/v2"
        self.headers = {"Content-Type": "application/scim+json"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        data = kw.pop("data", None)
        return requests.request(
            method,
            self.base + path,
            json=body,
            data=data,
            headers={**self.headers, **kw.pop("headers", {})},
            timeout=30,
        )


@pytest.fixture
def scim(live_server: Any, transactional_db: None, regions: dict[str, Any]) -> Scim:
    group_mappings_seed("portal-agents-north=agent:north,portal-supervisors=supervisor")
    _, key = scim_token_create(name="entra")
    return Scim(live_server.url, key)


def _entra_user(name: str, external_id: str, **extra: Any) -> dict[str, Any]:
    """A user as Entra ID's default attribute mapping sends it (more than the portal keeps)."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": name,
        "active": True,
        "displayName": f"{name} display",
        "title": "Branch agent",
        "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
        "emails": [
            {"primary": True, "type": "work", "value": f"{name.split('@')[0]}@bank.example"}
        ],
        "phoneNumbers": [{"type": "mobile", "value": "+44 7700 900123"}],
        "addresses": [{"type": "work", "streetAddress": "1 Bank St", "country": "GB"}],
        ENTERPRISE: {"department": "Retail", "employeeNumber": "E-1"},
        **extra,
    }


def _create_user(scim: Scim, name: str, external_id: str = "") -> dict[str, Any]:
    response = scim("POST", "/Users", _entra_user(name, external_id or f"oid-{name}"))
    assert response.status_code == 201, response.text
    return response.json()


def _group(scim: Scim, name: str, members: list[str]) -> dict[str, Any]:
    response = scim(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _password_session(base: str, username: str) -> requests.Session:
    """A browser session signed in with a password through the live portal's form."""
    browser = requests.Session()
    page = browser.get(f"{base}/accounts/login/", timeout=30)
    browser.post(
        page.url,
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": page.url},
        timeout=30,
    )
    return browser


def _patch(scim: Scim, path: str, *operations: dict[str, Any]) -> requests.Response:
    return scim("PATCH", path, {"schemas": [PATCH], "Operations": list(operations)})


def test_the_token_is_required_and_a_browser_session_is_not_enough(
    scim: Scim, live_server: Any, make_user: Any
) -> None:
    anonymous = Scim(live_server.url, None)
    assert anonymous("GET", "/ServiceProviderConfig").status_code == 200  # RFC 7643 §5
    for client in (anonymous, Scim(live_server.url, "not-a-token")):
        response = client("GET", "/Users")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    # An administrator signed in to the portal gets nothing from SCIM either.
    make_user("scim_admin", Role.ADMIN)
    browser = _password_session(live_server.url, "scim_admin")
    assert "sessionid" in browser.cookies
    assert browser.get(f"{live_server.url}/scim/v2/Users", timeout=30).status_code == 401


def test_a_revoked_token_is_refused_at_once(scim: Scim) -> None:
    assert scim("GET", "/Users").status_code == 200
    from portal.models import ScimToken

    scim_token_revoke(token=ScimToken.objects.get(name="entra"))
    assert scim("GET", "/Users").status_code == 401


def test_create_keeps_what_the_portal_needs_and_drops_the_rest(scim: Scim) -> None:
    body = _create_user(scim, "ada@bank.example", "oid-ada")
    assert body["userName"] == "ada@bank.example" and body["active"] is True
    assert body["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert body["emails"] == [{"value": "ada@bank.example", "type": "work", "primary": True}]
    assert body["externalId"] == "oid-ada"
    for dropped in ("title", "phoneNumbers", "addresses", ENTERPRISE):
        assert dropped not in body
    user = get_user_model().objects.get(username="ada@bank.example")
    assert not user.has_usable_password()  # only the provider signs it in
    assert user.email == "ada@bank.example" and user.first_name == "Ada"
    assert user_roles(user) == frozenset()  # no group yet: no role
    stored = str(list(ScimAccount.objects.filter(user=user).values()))
    assert "Retail" not in stored and "900123" not in stored and "1 Bank St" not in stored
    event = AuditEvent.objects.get(action="scim.user_created")
    assert event.actor_username == "scim:entra" and event.target_id == str(user.pk)
    # Found the way a provider looks for an account, whatever the case.
    found = scim("GET", '/Users?filter=userName eq "ADA@bank.example"').json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == body["id"]
    found = scim("GET", '/Users?filter=externalId eq "oid-ada"').json()
    assert found["totalResults"] == 1
    assert scim("GET", '/Users?filter=externalId eq "OID-ADA"').json()["totalResults"] == 0


def test_group_membership_drives_roles_and_regions(scim: Scim, regions: dict[str, Any]) -> None:
    ada = _create_user(scim, "ada")
    bob = _create_user(scim, "bob")
    group = _group(scim, "portal-agents-north", [ada["id"], bob["id"]])
    users = get_user_model().objects
    for name in ("ada", "bob"):
        user = users.get(username=name)
        assert user_roles(user) == frozenset({Role.AGENT})
        assert list(user.profile.regions.values_list("code", flat=True)) == ["north"]
    assert scim("GET", f"/Users/{ada['id']}").json()["groups"][0]["display"] == (
        "portal-agents-north"
    )
    # Bob leaves the group at the provider: his access goes with the next request.
    response = _patch(
        scim, f"/Groups/{group['id']}", {"op": "remove", "path": f'members[value eq "{bob["id"]}"]'}
    )
    assert response.status_code == 204, response.text  # no attributes asked for
    bob_user = users.get(username="bob")
    assert user_roles(bob_user) == frozenset()
    assert not bob_user.profile.regions.exists()
    assert user_roles(users.get(username="ada")) == frozenset({Role.AGENT})
    synced = AuditEvent.objects.filter(action="scim.access_synced", target_id=str(bob_user.pk))
    assert synced.latest("pk").details["roles"] == []
    # A second group adds a role; deleting it takes the role away again.
    supervisors = _group(scim, "portal-supervisors", [ada["id"]])
    assert user_roles(users.get(username="ada")) == frozenset({Role.AGENT, Role.SUPERVISOR})
    assert scim("DELETE", f"/Groups/{supervisors['id']}").status_code == 204
    assert user_roles(users.get(username="ada")) == frozenset({Role.AGENT})


def _open_work(leaver: Any, regions: dict[str, Any], make_user: Any) -> tuple[Handoff, Any]:
    agent = make_user("work_agent", Role.AGENT, regions=[regions["north"]])
    conversation = Conversation.objects.create(owner=agent, title="Card question")
    handoff = Handoff.objects.create(
        conversation=conversation,
        reason="Needs a supervisor",
        region=regions["north"],
        status=HandoffStatus.ASSIGNED,
        assignee=leaver,
    )
    seed_forms()
    seed_customers(count=3)
    submission = FormSubmission.objects.create(
        definition=FormDefinition.objects.order_by("pk").first(),
        customer=Customer.objects.order_by("pk").first(),
        submitted_by=agent,
        reviewer=leaver,
        status=SubmissionStatus.IN_REVIEW,
        data={},
    )
    return handoff, submission


def test_deactivation_takes_effect_at_once(
    scim: Scim, live_server: Any, regions: dict[str, Any], make_user: Any
) -> None:
    body = _create_user(scim, "leaver")
    _group(scim, "portal-supervisors", [body["id"]])
    _group(scim, "portal-agents-north", [body["id"]])
    leaver = get_user_model().objects.get(username="leaver")
    leaver.set_password(PASSWORD)  # to hold a browser session in this test
    leaver.save()
    browser = _password_session(live_server.url, "leaver")
    assert browser.get(f"{live_server.url}/", timeout=30, allow_redirects=False).status_code == 200
    _, key = api_token_create(user=leaver, name="script", scopes=["read"])
    api = {"Authorization": f"Bearer {key}"}
    assert requests.get(f"{live_server.url}/api/v1/me/", headers=api, timeout=30).ok
    handoff, submission = _open_work(leaver, regions, make_user)

    response = _patch(scim, f"/Users/{body['id']}", {"op": "replace", "value": {"active": False}})
    assert response.status_code == 204, response.text
    assert scim("GET", f"/Users/{body['id']}").json()["active"] is False

    home = browser.get(f"{live_server.url}/", timeout=30, allow_redirects=False)
    assert home.status_code == 302 and "/accounts/login/" in home.headers["Location"]
    assert requests.get(f"{live_server.url}/api/v1/me/", headers=api, timeout=30).status_code in (
        401,
        403,
    )
    assert not UserSession.objects.filter(user=leaver, ended_at__isnull=True).exists()
    assert not ApiToken.objects.filter(user=leaver, revoked_at__isnull=True).exists()
    handoff.refresh_from_db()
    submission.refresh_from_db()
    assert handoff.status == HandoffStatus.OPEN and handoff.assignee_id is None
    assert submission.status == SubmissionStatus.SUBMITTED and submission.reviewer_id is None
    event = AuditEvent.objects.get(action="auth.account_deactivated")
    assert event.actor_username == "scim:entra"
    assert event.details == {
        "reason": "scim_active_false",
        "sessions_ended": 1,
        "api_tokens_revoked": 1,
        "assistant.handoffs": 1,
        "forms_app.reviews": 1,
    }
    assert AuditEvent.objects.filter(action="assistant.handoff_returned").count() == 1
    assert AuditEvent.objects.filter(action="form_submission.review_returned").count() == 1
    # Reactivated: signs in again (their roles are still their groups'), nothing else back.
    _patch(scim, f"/Users/{body['id']}", {"op": "replace", "path": "active", "value": True})
    leaver.refresh_from_db()
    assert leaver.is_active
    assert AuditEvent.objects.filter(action="auth.account_reactivated").count() == 1


def test_delete_deactivates_and_hides_the_account_but_keeps_it(scim: Scim) -> None:
    body = _create_user(scim, "gone")
    _group(scim, "portal-agents-north", [body["id"]])
    assert scim("DELETE", f"/Users/{body['id']}").status_code == 204
    assert scim("GET", f"/Users/{body['id']}").status_code == 404
    user = get_user_model().objects.get(username="gone")  # kept: the audit trail names it
    assert not user.is_active and user_roles(user) == frozenset()
    assert AuditEvent.objects.filter(action="auth.account_deactivated").count() == 1
    # The name stays taken: a provider cannot hand it to somebody else.
    assert scim("POST", "/Users", _entra_user("gone", "oid-new")).status_code == 409


def test_what_is_refused_and_how(scim: Scim, make_user: Any) -> None:
    make_user("breakglass", Role.ADMIN)
    # Local accounts are not SCIM's: not listed, not taken over.
    listed = scim("GET", "/Users").json()
    assert listed["totalResults"] == 0
    taken = scim("POST", "/Users", _entra_user("BreakGlass", "oid-x"))
    assert taken.status_code == 409 and taken.json()["scimType"] == "uniqueness"
    body = _create_user(scim, "dora", "oid-dora")
    same_external = scim("POST", "/Users", _entra_user("dora2", "oid-dora"))
    assert same_external.status_code == 409
    bad_name = scim("POST", "/Users", _entra_user("no spaces please", "oid-y"))
    assert bad_name.status_code == 400 and bad_name.json()["scimType"] == "invalidValue"
    bad_email = scim("POST", "/Users", _entra_user("eve", "oid-e", emails=[{"value": "nope"}]))
    assert bad_email.status_code == 400
    broken = scim("POST", "/Users", data=b'{"userName": ', headers={})
    assert broken.status_code == 400 and broken.json()["scimType"] == "invalidSyntax"
    no_active = _patch(scim, f"/Users/{body['id']}", {"op": "remove", "path": "active"})
    assert no_active.status_code == 400 and "active" in no_active.json()["detail"]
    unknown_member = scim(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": "x", "members": [{"value": "not-a-user"}]},
    )
    assert unknown_member.status_code == 400
    nested = _group(scim, "outer", [])
    response = _patch(
        scim,
        f"/Groups/{nested['id']}",
        {"op": "add", "path": "members", "value": [{"value": nested["id"], "type": "Group"}]},
    )
    assert response.status_code == 400
    # An attribute the portal does not keep is dropped, not an error: a PATCH of it alone
    # changes nothing.
    title = _patch(scim, f"/Users/{body['id']}", {"op": "replace", "path": "title", "value": "x"})
    assert title.status_code == 200 and "title" not in title.json()  # the resource, as it is
    assert scim("GET", "/Users/not-a-uuid").status_code == 404
    # A NUL or a lone surrogate anywhere, or JSON nested too deep: a clear 400.
    for raw in (
        b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "nul",'
        b' "displayName": "a\\u0000b"}',
        b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "sur",'
        b' "name": {"givenName": "\\ud800"}}',
        b'{"a": ' * 200 + b"1" + b"}" * 200,
    ):
        refused = scim("POST", "/Users", data=raw)
        assert refused.status_code == 400, refused.text
    search = scim("GET", '/Users?filter=userName eq "a%00b"')
    assert search.status_code == 400
    assert not get_user_model().objects.filter(username__in=["nul", "sur"]).exists()
    assert get_user_model().objects.get(username="breakglass").is_active


def test_first_sign_in_links_the_provisioned_account_and_scim_groups_decide(
    sso: Any, live_server: Any, regions: dict[str, Any]
) -> None:
    """alice (sub u-alice-7f3a) is provisioned with that externalId and put in the
    supervisors' group by SCIM; her ID token's groups claim says agents-north. She signs in
    to the provisioned account, with SCIM's roles."""
    group_mappings_seed("portal-supervisors=supervisor")
    _, key = scim_token_create(name="okta")
    scim = Scim(live_server.url, key)
    body = _create_user(scim, "alice.provisioned", "u-alice-7f3a")
    _group(scim, "portal-supervisors", [body["id"]])
    with override_settings(OIDC_SCIM_MATCH_CLAIM="sub"):
        done = provider_sign_in(live_server.url, "alice")
    assert done.response.status_code == 200, done.response.text[:300]
    users = get_user_model().objects
    assert not users.filter(username="alice").exists()  # no second account
    user = users.get(username="alice.provisioned")
    assert user.external_identities.get().subject == "u-alice-7f3a"
    assert user_roles(user) == frozenset({Role.SUPERVISOR})


def test_access_review_names_scim_as_the_grant(scim: Scim, make_user: Any) -> None:
    from portal.access_review import access_rows

    body = _create_user(scim, "reviewed")
    _group(scim, "portal-agents-north", [body["id"]])
    reviewer = make_user("rev_compliance", Role.COMPLIANCE)
    rows = {row.user.get_username(): row for row in access_rows(reviewer)}
    assert rows["reviewed"].granted_by == "provisioned (SCIM) groups: portal-agents-north"
    assert rows["reviewed"].roles == ["agent"] and rows["reviewed"].regions == ["north"]
    assert rows["rev_compliance"].granted_by == "local account, set in the admin"


def test_unticking_active_in_the_admin_is_a_full_deactivation(
    transactional_db: None, make_user: Any, regions: dict[str, Any]
) -> None:
    from django.contrib import admin
    from django.test import RequestFactory

    from portal.admin import PortalUserAdmin

    manager = make_user("user_manager", Role.ADMIN)
    leaver = make_user("admin_leaver", Role.SUPERVISOR, regions=[regions["north"]])
    handoff, submission = _open_work(leaver, regions, make_user)
    api_token_create(user=leaver, name="script", scopes=["read"])
    request = RequestFactory().post("/admin/")
    request.user = manager
    leaver.is_active = False

    class Form:
        changed_data = ["is_active"]

    PortalUserAdmin(get_user_model(), admin.site).save_model(request, leaver, Form(), True)
    leaver.refresh_from_db()
    handoff.refresh_from_db()
    submission.refresh_from_db()
    assert not leaver.is_active
    assert not ApiToken.objects.filter(user=leaver, revoked_at__isnull=True).exists()
    assert handoff.assignee_id is None and submission.reviewer_id is None
    event = AuditEvent.objects.get(action="auth.account_deactivated")
    assert event.actor_id == manager.pk and event.details["reason"] == "deactivated_in_admin"


def test_a_deactivation_addressed_to_the_core_schema_is_applied(scim: Scim) -> None:
    """Both PATCH forms that name the core schema as a container (RFC 7644 §3.5.2) reach
    the account: dropping what the portal does not keep must not drop them."""
    users = get_user_model().objects
    for name, operation in (
        ("urn_value", {"op": "replace", "value": {USER: {"active": False}}}),
        ("urn_path", {"op": "replace", "path": USER, "value": {"active": False}}),
    ):
        body = _create_user(scim, name)
        assert _patch(scim, f"/Users/{body['id']}", operation).status_code in (200, 204)
        assert not users.get(username=name).is_active, name


def test_searches_by_post_keep_their_filter_and_odd_paging_is_not_an_error(scim: Scim) -> None:
    _create_user(scim, "first")
    wanted = _create_user(scim, "second")
    search = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName eq "second"',
    }
    found = scim("POST", "/Users/.search", search).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == wanted["id"]
    past_the_end = scim("GET", f"/Users?startIndex={10**25}&count=5")
    assert past_the_end.status_code == 200 and past_the_end.json().get("Resources", []) == []
    deep = scim("POST", "/Users", data=b"[" * 5000 + b"]" * 5000)
    assert deep.status_code == 400


def test_scim_cannot_undo_an_administrators_deactivation_nor_grant_admin(
    scim: Scim, make_user: Any
) -> None:
    from django.contrib import admin
    from django.test import RequestFactory

    from portal.admin import PortalUserAdmin

    body = _create_user(scim, "held")
    user = get_user_model().objects.get(username="held")
    request = RequestFactory().post("/admin/")
    request.user = make_user("hold_admin", Role.ADMIN)
    user.is_active = False

    class Form:
        changed_data = ["is_active"]

    PortalUserAdmin(get_user_model(), admin.site).save_model(request, user, Form(), True)
    again = _patch(scim, f"/Users/{body['id']}", {"op": "replace", "path": "active", "value": True})
    assert again.status_code == 400 and "administrators" in again.json()["detail"]
    assert not get_user_model().objects.get(username="held").is_active
    # Administrators come from single sign-on or the admin, not from a SCIM group.
    group_mappings_seed("portal-admins=admin")
    other = _create_user(scim, "would_be_admin")
    _group(scim, "portal-admins", [other["id"]])
    assert user_roles(get_user_model().objects.get(username="would_be_admin")) == frozenset()
    with override_settings(SCIM_GRANTABLE_ROLES=["admin"]):  # an operator who opts in
        opted = _create_user(scim, "opted_in_admin")
        group_id = scim("GET", '/Groups?filter=displayName eq "portal-admins"').json()
        _patch(
            scim,
            f"/Groups/{group_id['Resources'][0]['id']}",
            {"op": "add", "path": "members", "value": [{"value": opted["id"]}]},
        )
    assert user_roles(get_user_model().objects.get(username="opted_in_admin")) == frozenset(
        {Role.ADMIN}
    )


def test_look_alike_user_names_are_refused(scim: Scim) -> None:
    for name in ("\u0430dmin", "\uff41dmin", "brea\u212aglass"):  # Cyrillic, full-width, Kelvin
        response = scim("POST", "/Users", _entra_user(name, f"oid-{ord(name[0])}"))
        assert response.status_code == 400, name


def test_an_external_id_change_unlinks_single_sign_on(
    sso: Any, live_server: Any, regions: dict[str, Any]
) -> None:
    group_mappings_seed("portal-supervisors=supervisor")
    _, key = scim_token_create(name="okta")
    scim = Scim(live_server.url, key)
    body = _create_user(scim, "carol.provisioned", "u-carol-55d0")
    _group(scim, "portal-supervisors", [body["id"]])
    assert provider_sign_in(live_server.url, "carol").response.status_code == 200
    user = get_user_model().objects.get(username="carol.provisioned")
    assert user.external_identities.count() == 1
    changed = _patch(
        scim, f"/Users/{body['id']}", {"op": "replace", "path": "externalId", "value": "u-new"}
    )
    assert changed.status_code in (200, 204)
    assert user.external_identities.count() == 0
    with override_settings(OIDC_JIT_ACCOUNTS=False):
        done = provider_sign_in(live_server.url, "carol")
    assert 'data-sso-no-access="no_account"' in done.response.text
    assert not get_user_model().objects.filter(username="carol").exists()


def test_concurrent_membership_changes_are_both_applied(scim: Scim) -> None:
    """Two PATCHes of the same group at the same time (one removes a member, the other
    adds one) each read the group locked, so neither works on the other's old list."""
    import threading

    users = [_create_user(scim, f"member{i}")["id"] for i in range(6)]

    def patch(group_id: str, operation: dict[str, Any], barrier: Any, answers: list[int]) -> None:
        barrier.wait()
        answers.append(_patch(scim, f"/Groups/{group_id}", operation).status_code)

    for round_ in range(4):
        group = _group(scim, f"race-{round_}", users[:3])
        barrier = threading.Barrier(2)
        answers: list[int] = []
        operations = (
            {"op": "remove", "path": f'members[value eq "{users[0]}"]'},
            {"op": "add", "path": "members", "value": [{"value": users[3]}]},
        )
        threads = [
            threading.Thread(target=patch, args=(group["id"], operation, barrier, answers))
            for operation in operations
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [204, 204], answers
        members = {m["value"] for m in scim("GET", f"/Groups/{group['id']}").json()["members"]}
        assert members == {users[1], users[2], users[3]}, round_
