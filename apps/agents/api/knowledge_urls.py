"""knowledge routes of the agents API."""

urlpatterns: list = []
