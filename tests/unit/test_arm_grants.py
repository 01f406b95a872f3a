"""Reading ARM's permissions as Azure does: `*` matches any characters, case does not matter,
and notActions narrow only their own role, so another role can grant the action again."""

from __future__ import annotations

from bot.azure.errors import LIST_USER_CREDENTIALS, READ_UPGRADES, WRITE_CLUSTER
from bot.azure.permissions import Grant, granted
from bot.runtime.permissions import ARM, arm_actions, arm_role_advice

CONTRIBUTOR = Grant(("*",), ("Microsoft.Authorization/*/Write",
                             "Microsoft.Authorization/*/Delete"))
READER = Grant(("*/read",))
ASSIGN = "Microsoft.Authorization/roleAssignments/write"


def test_a_wildcard_matches_any_characters_whatever_the_case() -> None:
    assert READER.allows(READ_UPGRADES)
    assert READER.allows(READ_UPGRADES.upper())
    assert not READER.allows(WRITE_CLUSTER)
    assert Grant(("Microsoft.ContainerService/managedClusters/*",)).allows(LIST_USER_CREDENTIALS)
    assert not Grant(("Microsoft.ContainerService/managedClusters/read",)).allows(READ_UPGRADES)


def test_not_actions_narrow_their_own_role_only() -> None:
    assert CONTRIBUTOR.allows(WRITE_CLUSTER)
    assert not CONTRIBUTOR.allows(ASSIGN.lower())
    assert not granted([CONTRIBUTOR, READER], ASSIGN)
    assert granted([CONTRIBUTOR, Grant((ASSIGN,))], ASSIGN), "excluded, not denied"
    assert not granted([], READ_UPGRADES)


def test_the_user_kubeconfig_is_needed_only_when_arm_gives_the_kubeconfig() -> None:
    with_arm = {a.action for a in arm_actions(True)}
    assert with_arm == {a.action for a in ARM if a.at_cluster}
    assert WRITE_CLUSTER in with_arm and LIST_USER_CREDENTIALS in with_arm
    assert with_arm - {a.action for a in arm_actions(False)} == {LIST_USER_CREDENTIALS}


def test_the_advice_names_each_role_once_with_the_command_that_grants_it() -> None:
    missing = [a for a in ARM if a.action in (WRITE_CLUSTER, LIST_USER_CREDENTIALS, READ_UPGRADES)]
    advice = arm_role_advice(missing, "0000-oid", "/subscriptions/s/resourceGroups/r/x")
    assert advice.count("az role assignment create") == 3
    for role in ("Azure Kubernetes Service Contributor Role",
                 "Azure Kubernetes Service Cluster User Role", "Reader"):
        assert (f'--assignee 0000-oid --role "{role}" --scope /subscriptions/s/resourceGroups/r/x'
                in advice)
