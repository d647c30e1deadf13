"""``next=`` after a language switch or a login only ever leads to a path of this site (issue 15:
``/\\evil.com`` was accepted), tested through the unauthenticated ``/lang/<code>?next=``."""
from urllib.parse import quote

import pytest

REFUSED = [
    "/\\evil.com", "/\\\\evil.com", "//evil.com", "///evil.com", "\\\\evil.com", "https://evil.com",
    "javascript:alert(1)", "evil.com", "/%5Cevil.com", "/%5cevil.com", "/%2F%2Fevil.com", "/%2fevil.com",
    "/%255Cevil.com", "/\tevil.com", "/%09/evil.com", "/x\\y", "", "%2F%2Fevil.com",
]


@pytest.mark.parametrize("target", REFUSED)
def test_anything_but_a_same_origin_path_goes_home(client, target):
    response = client.get(f"/lang/en?next={quote(target, safe='')}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/", "/patients/3", "/visits/7?tab=labs", "/visits/7#labs", "/a%20b"])
def test_same_origin_paths_are_kept(client, target):
    response = client.get(f"/lang/en?next={quote(target, safe='')}")
    assert response.status_code == 302 and response.headers["Location"] == target
