"""The simulated ARM answers `Microsoft.Authorization/permissions` for a cluster as Azure does:
the caller's own role assignments at or above the cluster, one entry per role with the role
definition's actions, in the shape of Permissions_ListForResource (api-version 2022-04-01)."""

from __future__ import annotations

from pathlib import Path

from meshsim.arm.sim import BOT_ARM_ROLES
from meshsim.entra.rbac import role
from tests.meshsim.arm_env import RG, SUB, arm_env, cluster_path, raw

PERMISSIONS = (cluster_path() + "/providers/Microsoft.Authorization/permissions"
               "?api-version=2022-04-01")
WRITE = "Microsoft.ContainerService/managedClusters/write"


def test_the_bot_sees_the_actions_of_the_roles_it_holds_on_the_cluster(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        status, body, _ = raw(env, "GET", PERMISSIONS)
    assert status == 200
    assert body == {"value": [role(name).permission() for name in BOT_ARM_ROLES]}
    contributor = body["value"][0]
    assert WRITE in contributor["actions"]
    assert set(contributor) == {"actions", "notActions", "dataActions", "notDataActions"}


def test_a_reader_only_identity_has_no_write_and_the_path_is_case_insensitive(
        tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        bot = env.arm.entra.bot.object_id
        env.arm.entra.assignments.revoke(bot)
        env.arm.entra.grant(bot, "Reader", f"/subscriptions/{SUB}/resourceGroups/{RG}")
        status, body, _ = raw(env, "GET", PERMISSIONS.lower())
    assert status == 200
    assert body == {"value": [{"actions": ["*/read"], "notActions": [], "dataActions": [],
                               "notDataActions": []}]}, "the resource group's Reader covers it"


def test_someone_without_assignments_gets_an_empty_list_and_no_write_is_made(
        tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        env.arm.entra.assignments.revoke(env.arm.entra.bot.object_id)
        status, body, _ = raw(env, "GET", PERMISSIONS)
        calls = env.arm.calls()
    assert (status, body) == (200, {"value": []})
    assert [c.method for c in calls] == ["GET"]
