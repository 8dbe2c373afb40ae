"""The `provider` fixture: each crypto test runs once per provider."""

import pytest

from .providers import PROVIDERS


@pytest.fixture(params=PROVIDERS, ids=lambda cls: cls.name)
def provider(request):
    return request.param()
