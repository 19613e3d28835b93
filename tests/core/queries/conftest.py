import pytest

from tests.analytics_data import build_empty_event, build_night


@pytest.fixture
def night(db):
    return build_night()


@pytest.fixture
def empty_event(db):
    return build_empty_event()
