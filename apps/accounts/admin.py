"""The super-admin console: Django admin on the platform's public domain, for superusers only.

Writes that have a service (tenant creation, suspension, membership role changes, API key and invitation
revocation) go through it, so they validate and audit exactly like the API. Every other save or delete made here
is recorded in the platform audit log as `admin.<model>.<created|changed|deleted>` with the changed fields."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_tenants.utils import schema_exists

from apps.accounts import quotas, services
from apps.accounts.audit.services import Actor, audit_record, platform_audit_record
from apps.accounts.models import (
    RESERVED_SLUGS,
    SLUG_VALIDATOR,
    ApiKey,
    Domain,
    Invitation,
    Membership,
    PlatformAuditEvent,
    Tenant,
    TenantQuota,
    User,
)
from apps.accounts.tokens import tokens_revoke_all

# --- the site: superusers only ---------------------------------------------------------------------------------


def superusers_only(request) -> bool:
    """Replaces AdminSite.has_permission: staff status alone does not open the console."""
    user = request.user
    return bool(user.is_active and user.is_superuser)


class SuperAdminAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the email and password of a super-admin account.",
    }

    def confirm_login_allowed(self, user):
        if not (user.is_active and user.is_superuser):
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login")


admin.site.has_permission = superusers_only  # type: ignore[method-assign]
admin.site.login_form = SuperAdminAuthenticationForm
admin.site.site_header = "BizOSaaS super-admin"
admin.site.site_title = "BizOSaaS super-admin"
admin.site.index_title = "Platform"


# --- auditing of admin writes ----------------------------------------------------------------------------------


def _plain(value):
    """A JSON-friendly form of a field value for the audit diff (redact() stringifies what is left)."""
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, models.QuerySet | list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return value


def _form_changes(form) -> dict:
    return {name: _plain(form.cleaned_data.get(name)) for name in form.changed_data}


def _tenant_of(obj) -> Tenant | None:
    if isinstance(obj, Tenant):
        return obj
    return getattr(obj, "tenant", None) if hasattr(obj, "tenant_id") else None


def admin_audit(request, obj, verb: str, changes: dict | None = None) -> None:
    platform_audit_record(
        actor=Actor.for_user(request.user),
        action=f"admin.{obj._meta.model_name}.{verb}",
        tenant=_tenant_of(obj),
        obj=obj,
        changes=changes or {},
    )


class AuditedAdmin(admin.ModelAdmin):
    """Saves and deletes (including inlines and the bulk delete action) leave a platform audit event."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        admin_audit(request, obj, "changed" if change else "created", _form_changes(form))

    def delete_model(self, request, obj):
        admin_audit(request, obj, "deleted")  # first: the object still has its primary key
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            admin_audit(request, obj, "deleted")
            obj.delete()
        for instance in instances:
            instance.save()
        formset.save_m2m()
        for obj in formset.new_objects:
            admin_audit(request, obj, "created", {f.name: _plain(getattr(obj, f.name)) for f in obj._meta.fields})
        for obj, fields in formset.changed_objects:
            admin_audit(request, obj, "changed", {name: _plain(getattr(obj, name, None)) for name in fields})


# --- tenants ---------------------------------------------------------------------------------------------------


def _is_public(tenant: Tenant | None) -> bool:
    return tenant is not None and tenant.schema_name == settings.PUBLIC_SCHEMA_NAME


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]


class TenantMembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]
    can_delete = False
    show_change_link = True
    verbose_name_plural = "members (change roles from Memberships)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TenantQuotaInline(admin.StackedInline):
    """The tenant's own limits; an empty field is the platform default (QUOTA_* settings), shown as its help."""

    model = TenantQuota
    extra = 1
    max_num = 1
    can_delete = True
    fieldsets = [
        (None, {"fields": [limit.key for limit in quotas.LIMITS]}),
        (
            "Work in flight: how many of the tenant's tasks of each class run at once",
            {"fields": quotas.IN_FLIGHT_FIELDS},
        ),
    ]
    verbose_name = verbose_name_plural = "quota override (an empty field is the platform default)"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        limit = quotas.BY_KEY.get(db_field.name)
        if limit is not None and field is not None:
            field.label = limit.label
            field.help_text = f"{limit.unit}; empty: the platform default, {limit.default:,}"
        if db_field.name in quotas.IN_FLIGHT_FIELDS and field is not None:
            work = db_field.name.removeprefix("in_flight_")
            field.label = f"{work.capitalize()} in flight"
            field.help_text = f"tasks at once; empty: the platform default, {settings.TENANT_IN_FLIGHT[work]}"
        return field


class TenantAddForm(forms.ModelForm):
    slug = forms.CharField(
        max_length=48,
        validators=[SLUG_VALIDATOR],
        help_text="Also the schema name (hyphens become underscores) and the subdomain; it cannot change later.",
    )

    class Meta:
        model = Tenant
        fields = ["name", "slug"]

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        schema_name = slug.replace("-", "_")
        if (
            slug not in RESERVED_SLUGS
            and schema_exists(schema_name)
            and not Tenant.objects.filter(schema_name=schema_name).exists()
        ):
            raise ValidationError(
                f"A PostgreSQL schema named {schema_name!r} already exists without a tenant; "
                "drop or rename it before reusing this slug."
            )
        return slug


@admin.register(Tenant)
class TenantAdmin(AuditedAdmin):
    list_display = ["name", "slug", "schema_name", "status", "member_count", "api_key_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "slug", "schema_name"]
    ordering = ["slug"]
    actions = ["suspend_tenants", "resume_tenants"]
    add_form = TenantAddForm

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _member_count=Count("memberships", distinct=True), _api_key_count=Count("api_keys", distinct=True)
            )
        )

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, tenant: Tenant) -> int:
        return tenant._member_count

    @admin.display(description="API keys", ordering="_api_key_count")
    def api_key_count(self, tenant: Tenant) -> int:
        return tenant._api_key_count

    @admin.display(description="usage")
    def usage(self, tenant: Tenant) -> str:
        if tenant is None or tenant.pk is None:
            return "-"
        now = timezone.now()
        keys = ApiKey.objects.filter(tenant=tenant).aggregate(
            active=Count(
                "pk", filter=Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            ),
            expired=Count("pk", filter=Q(revoked_at__isnull=True, expires_at__lte=now)),
            revoked=Count("pk", filter=Q(revoked_at__isnull=False)),
        )
        rows = [
            ("Members", Membership.objects.filter(tenant=tenant).count()),
            ("API keys active", keys["active"]),
            ("API keys expired", keys["expired"]),
            ("API keys revoked", keys["revoked"]),
            (
                "Invitations pending",
                Invitation.objects.filter(
                    tenant=tenant, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
                ).count(),
            ),
        ]
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", rows))

    def get_form(self, request, obj=None, **kwargs):  # type: ignore[override]
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    @admin.display(description="quota usage")
    def quota_usage(self, tenant: Tenant) -> str:
        if tenant is None or tenant.pk is None:
            return "-"
        rows = [
            (
                row["label"],
                "unavailable" if row["usage"] is None else f"{row['usage']:,}",
                f"{row['limit_value']:,}",
                row["unit"],
                row["resets_at"].strftime("%Y-%m-%d %H:%M:%S UTC") if row["resets_at"] else "-",
            )
            for row in quotas.usage_for(tenant)
        ]
        return format_html(
            "<table><thead><tr><th>limit</th><th>usage</th><th>of</th><th>unit</th><th>window resets</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "slug"]
        return ["name", "slug", "schema_name", "status", "created_at", "usage", "quota_usage"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["slug", "schema_name", "created_at", "usage", "quota_usage"]

    def get_inlines(self, request, obj):
        return [] if obj is None else [TenantQuotaInline, DomainInline, TenantMembershipInline]

    def has_change_permission(self, request, obj=None):
        return not _is_public(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Deleting the row would orphan the schema (auto_drop_schema is off) and erase the tenant's keys and
        # members: suspend instead.
        return False

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        if not change:
            # the service creates the schema and the primary domain, and audits "tenant.created"
            created = services.tenant_create(
                name=form.cleaned_data["name"], slug=form.cleaned_data["slug"], actor=actor
            )
            for field in Tenant._meta.concrete_fields:
                setattr(obj, field.attname, getattr(created, field.attname))
            obj._state.adding, obj._state.db = False, created._state.db
            return
        current = Tenant.objects.get(pk=obj.pk)
        if "name" in form.changed_data:
            services.tenant_update(tenant=current, actor=actor, name=obj.name)
        if "status" in form.changed_data:
            services.tenant_set_status(tenant=current, actor=actor, status=obj.status)

    def _set_status(self, request, queryset, status: str) -> None:
        actor = Actor.for_user(request.user)
        changed = unchanged = 0
        for tenant in queryset.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME):
            if tenant.status == status:
                unchanged += 1
                continue
            services.tenant_set_status(tenant=tenant, actor=actor, status=status)
            changed += 1
        message = f"{changed} tenant(s) {status}."
        if unchanged:
            message += f" {unchanged} already {status}."
        self.message_user(request, message, messages.SUCCESS if changed else messages.WARNING)

    @admin.action(description="Suspend selected tenants")
    def suspend_tenants(self, request, queryset):
        self._set_status(request, queryset, Tenant.Status.SUSPENDED)

    @admin.action(description="Resume selected tenants")
    def resume_tenants(self, request, queryset):
        self._set_status(request, queryset, Tenant.Status.ACTIVE)


# --- users -----------------------------------------------------------------------------------------------------


class SuperAdminUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("An account with this email already exists.")
        return email


class SuperAdminUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise ValidationError("An account with this email already exists.")
        return email


class UserMembershipInline(TenantMembershipInline):
    fields = ["tenant", "role", "created_at"]
    readonly_fields = fields
    verbose_name_plural = "memberships"


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    form = SuperAdminUserChangeForm
    add_form = SuperAdminUserCreationForm
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_superuser", "is_active", "date_joined", "last_login"]
    list_filter = ["is_superuser", "is_staff", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["first_name", "last_name"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    readonly_fields = ["last_login", "date_joined"]

    def get_inlines(self, request, obj):
        return [] if obj is None else [UserMembershipInline]

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        succeeded = request.method == "POST" and response.status_code == 302 and response.url != request.get_full_path()  # type: ignore[attr-defined]
        if succeeded:
            user = self.get_object(request, id)
            tokens_revoke_all(user=user)  # type: ignore[arg-type]  # as after a password reset: every session of the account ends
            admin_audit(request, user, "password_changed", {"password": "changed"})
        return response


# --- memberships -----------------------------------------------------------------------------------------------


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "tenant", "role"]

    def clean_role(self):
        role = self.cleaned_data["role"]
        instance = self.instance
        if (
            instance.pk
            and instance.role == Membership.Role.OWNER
            and role != Membership.Role.OWNER
            and not Membership.objects.filter(tenant=instance.tenant, role=Membership.Role.OWNER)
            .exclude(pk=instance.pk)
            .exists()
        ):
            raise ValidationError("A tenant keeps at least one owner.")
        return role


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    form = MembershipForm
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__email", "tenant__slug"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]
    ordering = ["tenant__slug", "user__email"]

    def get_readonly_fields(self, request, obj=None):
        return ["created_at"] if obj is None else ["user", "tenant", "created_at"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant":
            kwargs["queryset"] = Tenant.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time: the last owner of a tenant is never removed
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.role == Membership.Role.OWNER:
            others = Membership.objects.filter(tenant=obj.tenant, role=Membership.Role.OWNER).exclude(pk=obj.pk)
            if not others.exists():
                return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        if change:
            if "role" in form.changed_data:
                services.membership_update(membership=Membership.objects.get(pk=obj.pk), role=obj.role, actor=actor)
            return
        super().save_model(request, obj, form, change)  # records admin.membership.created
        audit_record(
            tenant=obj.tenant,
            actor=actor,
            action="member.added",
            obj=obj,
            changes={"email": obj.user.email, "role": obj.role},
        )

    def delete_model(self, request, obj):
        admin_audit(request, obj, "deleted", {"email": obj.user.email, "role": obj.role})  # while it has a pk
        services.membership_remove(membership=obj, actor=Actor.for_user(request.user))


# --- API keys --------------------------------------------------------------------------------------------------


def _key_state(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= timezone.now():
        return "expired"
    return "active"


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
    list_display = [
        "name",
        "tenant",
        "key_prefix",
        "scopes",
        "state",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["tenant", "created_at", "revoked_at"]
    search_fields = ["name", "prefix", "tenant__slug"]
    list_select_related = ["tenant"]
    exclude = ["secret_hash"]
    fields = [
        "name",
        "tenant",
        "key_prefix",
        "scopes",
        "state",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = [field for field in fields if field != "name"]  # type: ignore[misc]
    actions = ["revoke_keys"]

    @admin.display(description="key", ordering="prefix")
    def key_prefix(self, key: ApiKey) -> str:
        return f"bzs_{key.prefix}"

    @admin.display(description="state")
    def state(self, key: ApiKey) -> str:
        return _key_state(key)

    def has_add_permission(self, request):
        return False  # keys are created through the API, which shows the secret once

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row keeps the key's history

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        actor = Actor.for_user(request.user)
        revoked = 0
        for key in queryset.select_related("tenant"):
            if key.revoked_at is None:
                services.api_key_revoke(key=key, actor=actor)
                revoked += 1
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS if revoked else messages.WARNING)


# --- invitations -----------------------------------------------------------------------------------------------


def _invitation_state(invitation: Invitation) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= timezone.now():
        return "expired"
    return "pending"


@admin.register(Invitation)
class InvitationAdmin(AuditedAdmin):
    list_display = ["email", "tenant", "role", "state", "invited_by", "created_at", "expires_at"]
    list_filter = ["role", "tenant", "created_at", "accepted_at", "revoked_at"]
    search_fields = ["email", "tenant__slug"]
    list_select_related = ["tenant", "invited_by"]
    exclude = ["token_hash"]
    fields = ["email", "tenant", "role", "state", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    readonly_fields = fields  # type: ignore[assignment]
    actions = ["revoke_invitations"]

    @admin.display(description="state")
    def state(self, invitation: Invitation) -> str:
        return _invitation_state(invitation)

    def has_add_permission(self, request):
        return False  # invitations are sent through the API or `manage.py invite_user`: the link is emailed

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead

    @admin.action(description="Revoke selected invitations")
    def revoke_invitations(self, request, queryset):
        actor = Actor.for_user(request.user)
        revoked = 0
        for invitation in queryset.select_related("tenant"):
            if invitation.accepted_at is None and invitation.revoked_at is None:
                services.invitation_revoke(invitation=invitation, actor=actor)
                revoked += 1
        self.message_user(
            request, f"{revoked} invitation(s) revoked.", messages.SUCCESS if revoked else messages.WARNING
        )


# --- platform audit log ----------------------------------------------------------------------------------------


@admin.register(PlatformAuditEvent)
class PlatformAuditEventAdmin(admin.ModelAdmin):
    """Append-only (a trigger refuses UPDATE/DELETE); the console only reads it."""

    list_display = ["created_at", "actor_type", "actor_label", "action", "tenant_slug", "object_repr", "ip"]
    list_filter = ["action", "actor_type", "tenant_slug"]
    search_fields = ["action", "actor_label", "object_repr", "tenant_slug", "request_id", "ip"]
    date_hierarchy = "created_at"
    actions = None
    fields = [
        "created_at",
        "actor_type",
        "actor_id",
        "actor_label",
        "action",
        "tenant_slug",
        "tenant_id_ref",
        "object_type",
        "object_id",
        "object_repr",
        "changes_display",
        "ip",
        "user_agent",
        "request_id",
    ]
    readonly_fields = fields  # type: ignore[assignment]

    @admin.display(description="changes")
    def changes_display(self, event: PlatformAuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.changes, indent=2, sort_keys=True, default=str))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
