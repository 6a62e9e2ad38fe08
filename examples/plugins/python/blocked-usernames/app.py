"""Validator: usernames the operator has blocked cannot be taken.

Configuration of the binding:
* ``blocked``: comma-separated usernames, compared without case, e.g. ``root, admin, support``.

Applies to new users and profile changes; other commands pass.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import validation
from wit_world.imports import config, log, types


class Validation(exports.Validation):
    def validate(self, input: validation.ValidationInput) -> list[types.Violation]:
        payload = input.command.payload
        if not isinstance(
            payload, (types.CommandPayload_AddHumanUser, types.CommandPayload_ChangeProfile)
        ):
            return []
        setting = config.get("blocked")
        if setting is None:
            raise Err("the binding sets no `blocked`")
        blocked = {name.strip().lower() for name in setting.split(",") if name.strip()}
        username = payload.value.username
        if username.strip().lower() not in blocked:
            return []
        log.log(log.Level.INFO, "blocked username refused", [("username", username)])
        return [
            types.Violation(
                field="username",
                code="username.blocked",
                message=f"the username {username!r} is reserved; choose another one",
            )
        ]
