from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.accounts.api import views

router = SimpleRouter(trailing_slash=True)  # DRF takes a bool: "/?" already meant True, a required slash
router.register("members", views.MemberViewSet, basename="member")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("api-keys", views.ApiKeyViewSet, basename="api-key")
router.register("audit-log", views.AuditLogViewSet, basename="audit-event")

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="auth-register"),
    path("auth/login/", views.LoginView.as_view(), name="auth-login"),
    path("auth/refresh/", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/switch-tenant/", views.SwitchTenantView.as_view(), name="auth-switch-tenant"),
    path("auth/me/", views.MeView.as_view(), name="auth-me"),
    path("auth/password/change/", views.PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/password/reset/", views.PasswordResetView.as_view(), name="auth-password-reset"),
    path("auth/password/reset/confirm/", views.PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"),
    path("auth/invitations/accept/", views.InvitationAcceptView.as_view(), name="auth-invitation-accept"),
    path("tenant/", views.CurrentTenantView.as_view(), name="tenant"),
    path("usage/", views.UsageView.as_view(), name="usage"),
    *router.urls,
]
