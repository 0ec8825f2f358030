import base64

from fhir_adapter.notes import (active_condition_codes, attachment_text, extract_notes, extract_notes_with_problems,
                                html_to_text, note_attachment_urls, record_passages)

from tests.models.conftest import NOTES_DIR


def b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode()


def test_bundle_sources_dates_and_problems(notes_bundle):
    notes, problems = extract_notes_with_problems(notes_bundle)
    by_source = {n.source: n for n in notes}
    assert set(by_source) == {"Condition/cond-hld", "DocumentReference/note-pc-2024", "DocumentReference/note-cardio-2023",
                              "DiagnosticReport/report-pulm-2021", "Observation/obs-bmi"}
    assert by_source["DocumentReference/note-pc-2024"].text == (NOTES_DIR / "primary-care-2024-03-12.txt").read_text()
    assert by_source["DocumentReference/note-pc-2024"].date.isoformat().startswith("2024-03-12")
    assert by_source["DiagnosticReport/report-pulm-2021"].text == (NOTES_DIR / "pulmonary-2021-02-10.txt").read_text()
    assert by_source["Condition/cond-hld"].text == "LDL at goal on atorvastatin."
    assert by_source["Observation/obs-bmi"].kind == "Observation"
    reasons = {p.source: p.reason for p in problems}
    assert "only a url" in reasons["DocumentReference/note-url-only"]
    assert "application/pdf" in reasons["DocumentReference/note-pdf"]
    assert "DocumentReference/note-error" not in by_source and "DocumentReference/note-error" not in reasons


def test_fixture_bundle_is_in_sync_with_the_text_notes(notes_bundle):
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_bundle", NOTES_DIR / "build_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == notes_bundle


def test_attachment_decoding_rules():
    assert attachment_text({"contentType": "text/plain; charset=iso-8859-1", "data": b64("caf\u00e9", "latin-1")}) == ("caf\u00e9", None)
    assert attachment_text({"data": b64("no type given")}) == ("no type given", None)
    text, _ = attachment_text({"contentType": "text/html", "data": b64("<p>Has <b>asthma</b>.</p><script>x()</script>")})
    assert text == "Has asthma."
    assert attachment_text({"contentType": "text/plain", "data": "!!!not base64!!!"}) == (None, "attachment data is not valid base64")
    assert attachment_text({"contentType": "text/plain", "data": "SGVs\nbG8="}) == ("Hello", None)
    assert attachment_text({"contentType": "image/png", "data": "AAAA"})[1].startswith("attachment content type")
    assert attachment_text({"contentType": "text/plain"})[1] == "attachment has no data"
    assert html_to_text("<div>a</div><div>b</div>").split() == ["a", "b"]


def test_prefetch_mapping_and_garbage_never_raise(notes_bundle):
    prefetch = {"patient": {"resourceType": "Patient", "id": "1"}, "notes": notes_bundle, "nothing": None}
    assert len(extract_notes(prefetch)) == 5
    for junk in (None, 42, "text", [1, "x", {}], {"resourceType": "DocumentReference", "content": "oops"},
                 {"resourceType": "DocumentReference", "content": [{"attachment": "oops"}]},
                 {"resourceType": "Condition", "note": [None, {"text": 5}]}):
        extract_notes_with_problems(junk)  # must not raise
        active_condition_codes(junk)
        record_passages(junk)


def test_url_only_attachments_are_listed_for_the_service(notes_bundle):
    assert note_attachment_urls(notes_bundle) == [("DocumentReference/note-url-only", "Binary/remote-note-1")]


def test_active_condition_codes(notes_bundle):
    codes = active_condition_codes(notes_bundle)
    assert codes == {("http://snomed.info/sct", "38341003"), ("http://hl7.org/fhir/sid/icd-10-cm", "E78.5")}
    refuted = {"resourceType": "Condition", "code": {"coding": [{"system": "s", "code": "1"}]},
               "verificationStatus": {"coding": [{"code": "refuted"}]}}
    abated = {"resourceType": "Condition", "code": {"coding": [{"system": "s", "code": "2"}]}, "abatementDateTime": "2020"}
    plain = {"resourceType": "Condition", "code": {"coding": [{"system": "s", "code": "3"}]}}
    assert active_condition_codes([refuted, abated, plain]) == {("s", "3")}


def test_record_passages(notes_bundle):
    passages = {p.source: p.text for p in record_passages(notes_bundle)}
    assert passages["Condition/cond-htn"] == "Condition (active): Hypertensive disorder since 2012-05-01."
    assert passages["Condition/cond-asthma-old"].startswith("Condition (resolved or inactive): Asthma")
    assert passages["Observation/obs-bmi"] == "Body mass index (BMI) [Ratio]: 33.4 kg/m2 on 2024-03-12."
