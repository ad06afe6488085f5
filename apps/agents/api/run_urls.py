"""run routes of the agents API."""

urlpatterns: list = []
