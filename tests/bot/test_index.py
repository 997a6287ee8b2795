"""`/` on the web port is a short page with links, not a 404."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_the_root_page_links_health_and_names_the_docs(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert 'href="/healthz"' in body and "README" in body
    assert client.get("/nope").status_code == 404
