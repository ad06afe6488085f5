from django.urls import path

from apps.mcp.views import mcp_endpoint

urlpatterns = [
    path("mcp/", mcp_endpoint, name="mcp"),
    path("mcp", mcp_endpoint, name="mcp-no-slash"),  # clients given the URL without the slash: no redirect of a POST
]
