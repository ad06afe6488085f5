from django.apps import AppConfig


class McpConfig(AppConfig):
    name = "apps.mcp"
    label = "mcp"

    def ready(self) -> None:
        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.accounts.services import register_mcp_tools_cleaner
        from apps.mcp.grants import mcp_tools_clean

        register_mcp_tools_cleaner(mcp_tools_clean)  # the API keys API validates a key's MCP tools with it

        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.agents.approvals import register_approval_executor
        from apps.mcp.actions import execute_approved

        register_approval_executor("mcp", execute_approved)  # an approved MCP action is performed by _call_action
