from django.urls import path

from apps.mcp.api import McpOverviewView

urlpatterns = [path("mcp/", McpOverviewView.as_view(), name="mcp-overview")]
