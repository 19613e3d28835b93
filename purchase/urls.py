from django.urls import path

from purchase import views

app_name = "purchase"

urlpatterns = [
    path("", views.event_list, name="event_list"),
    path("events/<slug:slug>/", views.event_page, name="event"),
]
