import pytest
from django.test import override_settings

from core.sites import site_url

pytestmark = pytest.mark.django_db

HOSTS = {
    "MARKETING_HOST": "www.example.com",
    "PURCHASE_HOST": "tickets.example.com",
    "SCANNER_HOST": "door.example.com",
    "ALLOWED_HOSTS": ["www.example.com", "tickets.example.com", "door.example.com"],
    "SITE_SCHEME": "https",
}


def test_one_host_serves_all_sites_under_prefixes(client, event):
    assert client.get("/").status_code == 200
    assert client.get("/buy/").status_code == 200
    assert client.get("/scanner/").status_code == 302  # sign-in first
    assert client.get("/scanner/login/").status_code == 200


@override_settings(**HOSTS)
def test_each_configured_host_serves_its_own_site(client, event):
    marketing = client.get("/", HTTP_HOST="www.example.com")
    assert b"Upcoming events" in marketing.content
    purchase = client.get("/", HTTP_HOST="tickets.example.com")
    assert (
        b"Buy tickets" in purchase.content and b"Live availability" in purchase.content
    )
    assert client.get("/login/", HTTP_HOST="door.example.com").status_code == 200
    assert client.get("/buy/", HTTP_HOST="www.example.com").status_code == 404
    assert (
        client.get(
            f"/events/{event.slug}/", HTTP_HOST="tickets.example.com"
        ).status_code
        == 200
    )


@override_settings(**HOSTS)
def test_cross_site_links_use_the_other_sites_host(event):
    assert site_url("purchase", "purchase:event", slug=event.slug) == (
        f"https://tickets.example.com/events/{event.slug}/"
    )


def test_cross_site_links_use_prefixes_on_one_host(event):
    assert (
        site_url("purchase", "purchase:event", slug=event.slug)
        == f"/buy/events/{event.slug}/"
    )


@override_settings(**HOSTS)
def test_marketing_buy_button_points_at_the_purchase_host(client, ticket_type):
    event = ticket_type.event
    response = client.get(f"/events/{event.slug}/", HTTP_HOST="www.example.com")
    assert (
        f"https://tickets.example.com/events/{event.slug}/".encode() in response.content
    )


def test_the_kept_host_map_follows_a_change_of_settings(settings):
    from ticketing.hosts import configured_hosts

    settings.MARKETING_HOST = settings.PURCHASE_HOST = settings.SCANNER_HOST = ""
    assert configured_hosts() == {}
    settings.PURCHASE_HOST = "Tickets.Example.com:8443"
    assert configured_hosts() == {"tickets.example.com": "purchase"}
    settings.PURCHASE_HOST = ""
    assert configured_hosts() == {}
