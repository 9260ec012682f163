"""``/api/v1/auth``: log in, who am I, and (admins) API keys and users.

``POST /api/v1/auth/login`` (and seed 003's ``/api/auth/login``, in ``app/profiles/seed003``)
trades a username and password for a signed token; every other route here but ``/me`` is for
admins (see ``app.api.security``).
"""

from __future__ import annotations

from datetime import timedelta

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.models.base import utcnow
from app.schemas.auth import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeyListArgs,
    ApiKeyPageSchema,
    ApiKeySchema,
    IdentitySchema,
    LoginSchema,
    TokenSchema,
    UserCreateSchema,
    UserListArgs,
    UserPageSchema,
    UserSchema,
    UserUpdateSchema,
)
from app.schemas.common import ApiErrorSchema, MessageSchema
from app.services import identity as service

login_blp = Blueprint("login", __name__, description="Log in for a token")
blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="API keys and users")

OPEN = {"security": []}  # documented as needing no credentials


@login_blp.route("/api/v1/auth/login")
@operation(Operation.OPEN)
class Login(MethodView):
    @login_blp.doc(**OPEN)
    @login_blp.arguments(LoginSchema)
    @login_blp.response(200, TokenSchema)
    @login_blp.alt_response(401, schema=ApiErrorSchema, description="Wrong username or password")
    def post(self, body):
        """Log in: a signed token to send as 'Authorization: Bearer <token>'"""
        return service.login(runtime(), body["username"], body["password"])


@blp.route("/me")
@operation(Operation.SELF)
class Me(MethodView):
    @blp.response(200, IdentitySchema)
    def get(self):
        """The identity the request's credentials stand for, and its role"""
        identity = g.identity
        return {**vars(identity), "role": identity.role.value}


@blp.route("/keys")
@operation(Operation.ADMIN)
class ApiKeys(MethodView):
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, ApiKeyCreatedSchema)
    def post(self, body):
        """Create an API key: the key is in this response only, keep it"""
        expires_at = body.get("expires_at")
        if body.get("expires_in_days"):
            expires_at = utcnow() + timedelta(days=body["expires_in_days"])
        record, key = service.create_api_key(
            runtime(),
            name=body["name"],
            role=body["role"],
            expires_at=expires_at,
            created_by=g.identity.name,
        )
        return {**{name: getattr(record, name) for name in ApiKeySchema().fields}, "key": key}

    @blp.arguments(ApiKeyListArgs, location="query")
    @blp.response(200, ApiKeyPageSchema)
    def get(self, args):
        """List API keys (never the keys themselves)"""
        return service.list_api_keys(runtime(), **args)


@blp.route("/keys/<key_id>")
@operation(Operation.ADMIN)
class ApiKeyById(MethodView):
    @blp.response(200, ApiKeySchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="API key does not exist")
    def get(self, key_id):
        """Get an API key's details"""
        return service.get_api_key(runtime(), key_id)

    @blp.response(200, ApiKeySchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="API key does not exist")
    def delete(self, key_id):
        """Revoke an API key: it is refused from the next request on"""
        return service.revoke_api_key(runtime(), key_id)


@blp.route("/users")
@operation(Operation.ADMIN)
class Users(MethodView):
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(409, schema=ApiErrorSchema, description="Username already exists")
    def post(self, body):
        """Create a user who logs in with a password"""
        return service.create_user(runtime(), **body)

    @blp.arguments(UserListArgs, location="query")
    @blp.response(200, UserPageSchema)
    def get(self, args):
        """List users"""
        return service.list_users(runtime(), **args)


@blp.route("/users/<user_id>")
@operation(Operation.ADMIN)
class UserById(MethodView):
    @blp.response(200, UserSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="User does not exist")
    def get(self, user_id):
        """Get a user"""
        return service.get_user(runtime(), user_id)

    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="User does not exist")
    def put(self, body, user_id):
        """Change a user's role, password or disabled flag (only the fields given); a new
        password or disabling refuses the user's earlier tokens"""
        return service.update_user(runtime(), user_id, body)

    @blp.response(200, MessageSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="User does not exist")
    def delete(self, user_id):
        """Delete a user; their tokens are refused from the next request on"""
        service.delete_user(runtime(), user_id)
        return {"message": f"User '{user_id}' deleted successfully"}
