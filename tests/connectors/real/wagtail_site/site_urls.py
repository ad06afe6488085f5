from django.urls import path
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import IsAuthenticated
from wagtail.api.v2.router import WagtailAPIRouter
from wagtail.api.v2.views import PagesAPIViewSet


class PrivatePagesAPIViewSet(PagesAPIViewSet):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]


public = WagtailAPIRouter("wagtailapi")
public.register_endpoint("pages", PagesAPIViewSet)
private = WagtailAPIRouter("privateapi")
private.register_endpoint("pages", PrivatePagesAPIViewSet)

urlpatterns = [path("api/v2/", public.urls), path("api/private/v2/", private.urls)]
