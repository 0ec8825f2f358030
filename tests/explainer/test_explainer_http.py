"""The explainer page over HTTP: every card links to it, the link opens it, and nothing else opens anything."""
from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from cds_hooks.app import create_app
from cds_hooks.declaration import SERVICES
from cds_hooks.evaluate import hook_request_from_resources
from cds_hooks.explainer import EXTENSION, evidence
from cds_hooks.explainer.tokens import ExplainerClaims, ExplainerTokens
from cds_hooks.processing import process_hook
from cds_hooks.store import ExplainerRow, explainer_call, store_of
from engine.finding import Citation, Evidence, Finding, Kind, Status
from tests.conftest import TEST_AS_OF
from tests.explainer.conftest import SECRET, TTL_S, explainer_app, explainer_links, hook_body

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _links(client, body=None, service="cardiovascular-risk") -> list[str]:
    resp = client.post(f"/cds-services/{service}", json=body or hook_body())
    assert resp.status_code == 200
    return explainer_links(resp.get_json())


def _assert_secure(resp) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, name
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp


def test_every_card_has_one_link_to_its_explainer_page(xclient):
    resp = xclient.post("/cds-services/cardiovascular-risk", json=hook_body())
    cards = resp.get_json()["cards"]
    assert cards
    for card in cards:
        links = [link for link in card["links"] if link["label"] == "How this was calculated"]
        assert len(links) == 1
        assert links[0]["type"] == "absolute"
        assert links[0]["url"].startswith("http://localhost/explain/")
    urls = [link["url"] for card in cards for link in card["links"]]
    assert len(set(urls)) == len(urls)  # one page per card


def test_the_link_opens_the_whole_evidence_of_the_card(xapp, xclient):
    urls = _links(xclient)
    page = xapp.test_client().get(_path(urls[0]))
    assert page.status_code == 200 and page.mimetype == "text/html"
    _assert_secure(page)
    html = page.get_data(as_text=True)
    assert "10-year ASCVD risk (Pooled Cohort Equations)" in html
    for expected in ("Total cholesterol", "213", "mg/dL", "HDL cholesterol", "Systolic blood pressure", "120",
                     "Observation/a-tc", "2026-03-02",  # input value, unit, date and source
                     "How each term contributed", "ln(age)",  # term contributions
                     "Method", "Categories", "borderline",  # method, thresholds, category
                     "Goff DC Jr", "https://doi.org/10.1161/01.cir.0000437741.48606.98",  # full citation, DOI link
                     "pce-2013 v"):  # engine id and version
        assert expected in html, expected
    assert html.count("<svg") >= 3  # total cholesterol, HDL, SBP over time
    assert "<script" not in html.lower()
    assert "Patient/pce-example-man" not in html.split("Inputs over time")[1].split("Method")[0]  # no age plot


def test_every_card_link_of_a_call_opens(xapp, xclient):
    raw = xapp.test_client()
    for url in _links(xclient):
        assert raw.get(_path(url)).status_code == 200


def test_data_needed_and_not_applicable_results_are_on_the_pages(xapp, xclient):
    resources = [r for v in hook_body()["prefetch"].values() if isinstance(v, dict)
                 for r in ([e["resource"] for e in v.get("entry", [])] if v.get("resourceType") == "Bundle" else [v])]
    # Hypertension on the problem list: the KDIGO stage is indicated and asks for a urine ACR ("data needed" asks
    # only for scores indicated for the patient).
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    resources.append({"resourceType": "Condition", "id": "htn", "subject": {"reference": f"Patient/{patient_id}"},
                      "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                     "code": "active"}]},
                      "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                                   "condition-ver-status", "code": "confirmed"}]},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]}})
    body = hook_request_from_resources(resources, SERVICES.get("risk-scores"))
    resp = xclient.post("/cds-services/risk-scores", json=body)
    cards = resp.get_json()["cards"]
    assert all(any(link["label"] == "How this was calculated" for link in c["links"]) for c in cards)
    computed = next(c for c in cards if not c["summary"].startswith(("Not applicable", "Data needed")))
    html = xapp.test_client().get(_path(computed["links"][-1]["url"])).get_data(as_text=True)
    assert "Not applicable here" in html
    assert "CHA2DS2-VASc" in html  # no atrial fibrillation on record: listed with its reason
    assert "Other results of this call" in html
    data_needed = next(c for c in cards if c["summary"].startswith("Data needed"))
    html = xapp.test_client().get(_path(data_needed["links"][-1]["url"])).get_data(as_text=True)
    assert "Missing inputs" in html and "Not computed: data needed" in html


def test_not_applicable_results_are_on_the_page_even_without_their_card(tmp_path, clock):
    app = explainer_app(tmp_path, clock, SHOW_NOT_APPLICABLE=False)
    resources = [r for v in hook_body()["prefetch"].values() if isinstance(v, dict)
                 for r in ([e["resource"] for e in v.get("entry", [])] if v.get("resourceType") == "Bundle" else [v])]
    resp = app.test_client().post("/cds-services/risk-scores",
                                  json=hook_request_from_resources(resources, SERVICES.get("risk-scores")))
    cards = resp.get_json()["cards"]
    assert not any(c["summary"].startswith("Not applicable") for c in cards)
    html = app.test_client().get(_path(cards[0]["links"][-1]["url"])).get_data(as_text=True)
    assert "Not applicable here" in html and "CHA2DS2-VASc" in html


def test_an_expired_link_is_gone_and_says_nothing_about_the_patient(xapp, xclient, clock):
    url = _links(xclient)[0]
    clock.offset = TTL_S + 5
    page = xapp.test_client().get(_path(url))
    assert page.status_code == 410
    _assert_secure(page)
    html = page.get_data(as_text=True)
    assert "expired" in html.lower()
    for leaked in ("213", "cholesterol", "ASCVD", "pce-example-man"):
        assert leaked not in html


@pytest.mark.parametrize("mangle", [
    # signature changed (a middle character: the last one of a base64 signature carries padding bits, so changing it
    # can leave the decoded signature the same)
    lambda t: t[:-10] + ("A" if t[-10] != "A" else "B") + t[-9:],
    lambda t: "e" + t[1:] if t[0] != "e" else "f" + t[1:],  # payload changed
    lambda t: t.split(".")[0],  # signature dropped
    lambda t: "A" * 2000,
    lambda t: "not-a-token",
])
def test_a_forged_link_is_not_found(xapp, xclient, mangle):
    token = _links(xclient)[0].rsplit("/", 1)[1]
    page = xapp.test_client().get("/explain/" + mangle(token))
    assert page.status_code == 404
    _assert_secure(page)
    html = page.get_data(as_text=True)
    assert "not valid" in html and "213" not in html and "cholesterol" not in html


def test_a_token_signed_with_another_secret_is_not_found(xapp, xclient):
    token = _links(xclient)[0].rsplit("/", 1)[1]
    claims = ExplainerTokens(SECRET, TTL_S).verify(token)
    other = ExplainerTokens("another-secret-" + "x" * 30, TTL_S).sign(claims)
    assert xapp.test_client().get("/explain/" + other).status_code == 404


def test_a_call_reaches_only_its_own_evidence(xapp, xclient):
    first = _links(xclient, hook_body(total_cholesterol=213))
    second = _links(xclient, hook_body(total_cholesterol=287, hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"))
    raw = xapp.test_client()
    first_page = raw.get(_path(first[0])).get_data(as_text=True)
    second_page = raw.get(_path(second[0])).get_data(as_text=True)
    assert ">213<" in first_page and ">287<" not in first_page
    assert ">287<" in second_page and ">213<" not in second_page
    tokens = xapp.extensions[EXTENSION].tokens
    first_claims, second_claims = tokens.verify(first[0].rsplit("/", 1)[1]), tokens.verify(second[0].rsplit("/", 1)[1])
    assert first_claims.call_key != second_claims.call_key
    # A link only names the call it was made for: to name another, it would have to be signed again.
    payload, stamp, signature = first[0].rsplit("/", 1)[1].split(".")
    other_payload = second[0].rsplit("/", 1)[1].split(".")[0]
    assert raw.get(f"/explain/{other_payload}.{stamp}.{signature}").status_code == 404
    # Links between pages of one call stay inside it.
    for href in re.findall(r'href="(/explain/[^"]+)"', first_page):
        assert tokens.verify(href.rsplit("/", 1)[1]).call_key == first_claims.call_key


def test_a_slot_the_call_does_not_have_is_not_found(xapp, xclient):
    tokens = xapp.extensions[EXTENSION].tokens
    claims = tokens.verify(_links(xclient)[0].rsplit("/", 1)[1])
    beyond = tokens.sign(ExplainerClaims(claims.call_key, 99, claims.issued_at))
    unknown = tokens.sign(ExplainerClaims("no-such-call", 0, claims.issued_at))
    raw = xapp.test_client()
    assert raw.get("/explain/" + beyond).status_code == 404
    assert raw.get("/explain/" + unknown).status_code == 404


def test_a_row_past_its_expiry_is_gone_and_a_purged_one_unknown(xapp, xclient):
    url = _links(xclient)[0]
    store = store_of(xapp)
    with store.engine.begin() as conn:
        conn.execute(update(explainer_call).values(expires_at=time.time() - 1))
    assert xapp.test_client().get(_path(url)).status_code == 410
    assert store.purge_explainers() >= 1
    assert xapp.test_client().get(_path(url)).status_code == 404


def test_links_use_the_public_base_url(tmp_path, clock):
    app = explainer_app(tmp_path, clock, PUBLIC_BASE_URL="https://cds.example.org/precision/")
    urls = _links(app.test_client())
    assert urls and all(u.startswith("https://cds.example.org/precision/explain/") for u in urls)


@pytest.mark.parametrize("base, host, script_root", [
    ("http://localhost/", "localhost", ""),
    ("https://cds.example.org:8443/", "cds.example.org:8443", ""),
    ("http://[::1]:5000/", "[::1]:5000", ""),
    ("https://xn--bcher-kva.example/", "xn--bcher-kva.example", ""),  # punycode: werkzeug shows it as an IRI
    ("https://ehr.example/", "ehr.example", "/mounted/under space"),
])
def test_without_a_public_base_url_links_start_at_the_request_url_root(tmp_path, clock, base, host, script_root):
    """The memoised root URL (cds_hooks.explainer.request_root_url) is werkzeug's ``request.url_root``."""
    from flask import request

    from cds_hooks.explainer import recorder_for_request, request_root_url

    app = explainer_app(tmp_path, clock)
    environ = {"SCRIPT_NAME": script_root, "HTTP_HOST": host}
    with app.test_request_context("/cds-services/x", base_url=base, environ_overrides=environ):
        assert recorder_for_request().base_url == request.url_root.rstrip("/")
        assert request_root_url(request.scheme, request.host, request.root_path) == request.url_root
    assert request_root_url.cache_info().maxsize == 64  # Host is the client's: a bounded cache


def test_production_without_a_secret_sends_no_links(tmp_path):
    app = create_app({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "DATA_DIR": str(tmp_path), "EXPLAINER_ENABLED": False})
    assert _links(app.test_client()) == []
    prod = create_app({"AS_OF": TEST_AS_OF, "DATA_DIR": str(tmp_path),  # no DEV_MODE, no EXPLAINER_SECRET
                       "PUBLIC_BASE_URL": "https://cds.example.org"})
    assert prod.extensions[EXTENSION] is None
    assert prod.test_client().get("/explain/anything").status_code == 404  # not 401: a browser gets a page


def test_dev_mode_without_a_secret_signs_with_a_random_one(tmp_path):
    app = create_app({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "DATA_DIR": str(tmp_path)})
    urls = _links(app.test_client())
    assert urls and app.test_client().get(_path(urls[0])).status_code == 200


def test_a_short_secret_stops_the_start_up(tmp_path):
    with pytest.raises(ValueError, match="EXPLAINER_SECRET"):
        create_app({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "DATA_DIR": str(tmp_path), "EXPLAINER_SECRET": "short"})


def test_the_page_needs_no_client_jwt(tmp_path, clock):
    dev = explainer_app(tmp_path, clock)
    url = _links(dev.test_client())[0]
    authenticated = create_app({"AS_OF": TEST_AS_OF, "DATA_DIR": str(tmp_path / "data"), "EXPLAINER_SECRET": SECRET,
                                "EXPLAINER_TTL_S": TTL_S, "PUBLIC_BASE_URL": "https://cds.example.org"})
    raw = authenticated.test_client()
    assert raw.post("/cds-services/cardiovascular-risk", json=hook_body()).status_code == 401
    assert raw.get(_path(url)).status_code == 200


def test_when_the_store_fails_the_cards_go_out_without_links(xapp, xclient, monkeypatch):
    def refuse(_row):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store_of(xapp), "save_explainer", refuse)
    resp = xclient.post("/cds-services/cardiovascular-risk", json=hook_body())
    assert resp.status_code == 200
    assert resp.get_json()["cards"] and explainer_links(resp.get_json()) == []


def test_the_offline_evaluation_has_no_links(xapp):
    outcome = process_hook(SERVICES.get("cardiovascular-risk"), hook_body(), xapp.config)
    assert outcome.response["cards"] and explainer_links(outcome.response) == []


def test_text_is_escaped_and_only_http_links_are_kept(xapp):
    hostile = "<script>alert(1)</script>"
    finding = Finding(id="x:1", engine_id="x", engine_version="1", kind=Kind.RISK, status=Status.COMPUTED,
                      title=hostile, value=1.0, unit="%", message=hostile, method=hostile,
                      citation=Citation(short=hostile, full=hostile, url="javascript:alert(1)", doi='10.1/"><b>'),
                      inputs=(Evidence(name="chol_total_mgdl", label=hostile, value=hostile, source=hostile),))
    document = evidence.capture(service=None, as_of=__import__("datetime").date(2026, 6, 1), answered_at=time.time(),
                                findings=[finding], slots=[("x:1",)], features=None)
    encoding, payload = evidence.encode(document)
    now = time.time()
    store_of(xapp).save_explainer(ExplainerRow("hostile", now, now + TTL_S, None, encoding, payload))
    token = xapp.extensions[EXTENSION].tokens.sign(ExplainerClaims("hostile", 0, int(now)))
    page = xapp.test_client().get("/explain/" + token)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html and '"><b>' not in html


def test_a_corrupt_row_is_not_found_not_a_500(xapp):
    now = time.time()
    store_of(xapp).save_explainer(ExplainerRow("corrupt", now, now + TTL_S, None, "json+zlib", b"garbage"))
    token = xapp.extensions[EXTENSION].tokens.sign(ExplainerClaims("corrupt", 0, int(now)))
    assert xapp.test_client().get("/explain/" + token).status_code == 404
