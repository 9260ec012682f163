"""Login, API keys and users. No schema ever serialises a password, a hash or a stored key."""

from __future__ import annotations

from datetime import datetime, timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.models import ROLES
from app.schemas.common import PageArgs, PageSchema, UtcDateTime

USERNAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,254}$",
    error="Must be 1-255 letters, digits or . _ @ -, starting with a letter or digit.",
)
PASSWORD = validate.Length(min=8, max=1024)
ROLE = validate.OneOf(ROLES)


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=255))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class TokenUserSchema(Schema):
    id = fields.String()
    username = fields.String()
    role = fields.String()


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token = fields.String(metadata={"description": "The same token as access_token"})
    token_type = fields.String(required=True, metadata={"description": "Always 'bearer'"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds from now"})
    expires_at = UtcDateTime(required=True)
    user = fields.Nested(TokenUserSchema)


class IdentitySchema(Schema):
    kind = fields.String(metadata={"description": "api_key or user"})
    id = fields.String()
    name = fields.String()
    role = fields.String()


class ApiKeyCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    role = fields.String(required=True, validate=ROLE)
    expires_at = fields.AwareDateTime(
        default_timezone=timezone.utc,
        metadata={"description": "When the key stops working (default: never)"},
    )
    expires_in_days = fields.Integer(
        validate=validate.Range(min=1, max=3650),
        metadata={"description": "The same as expires_at, counted from now"},
    )

    @validates_schema
    def one_expiry(self, data, **_kwargs) -> None:
        if "expires_at" in data and "expires_in_days" in data:
            raise ValidationError("Give expires_at or expires_in_days, not both.", "expires_at")
        when = data.get("expires_at")
        if when is not None and when <= datetime.now(timezone.utc):
            raise ValidationError("Must be in the future.", "expires_at")


class ApiKeySchema(Schema):
    id = fields.String()
    name = fields.String()
    role = fields.String()
    prefix = fields.String(metadata={"description": "The key's first characters"})
    created_by = fields.String(allow_none=True)
    created_at = UtcDateTime()
    expires_at = UtcDateTime(allow_none=True)
    last_used_at = UtcDateTime(allow_none=True)
    revoked_at = UtcDateTime(allow_none=True)


class ApiKeyCreatedSchema(ApiKeySchema):
    key = fields.String(
        required=True, metadata={"description": "The key itself: shown this once, never again"}
    )


class ApiKeyListArgs(PageArgs):
    role = fields.String(validate=ROLE)
    revoked = fields.Boolean(metadata={"description": "Only revoked (true) or live (false) keys"})


class ApiKeyPageSchema(PageSchema):
    items = fields.List(fields.Nested(ApiKeySchema))


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)
    role = fields.String(required=True, validate=ROLE)


class UserUpdateSchema(Schema):
    password = fields.String(load_only=True, validate=PASSWORD)
    role = fields.String(validate=ROLE)
    disabled = fields.Boolean()


class UserSchema(Schema):
    id = fields.String()
    username = fields.String()
    role = fields.String()
    disabled = fields.Boolean()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    last_login_at = UtcDateTime(allow_none=True)


class UserListArgs(PageArgs):
    role = fields.String(validate=ROLE)


class UserPageSchema(PageSchema):
    items = fields.List(fields.Nested(UserSchema))
