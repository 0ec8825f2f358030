import json

from click.testing import CliRunner

from engine.models.cli import cli, main
from tests.models.conftest import NOTES_DIR
from tests.models.test_training import synthetic_csv


def test_notes_command_lexical_only():
    result = CliRunner().invoke(cli, ["notes", str(NOTES_DIR / "notes-bundle.json"), "--as-of", "2024-03-15", "--lexical-only"])
    assert result.exit_code == 0, result.output
    assert "Possible undocumented problem in notes: Atrial fibrillation" in result.output
    assert "Hypertension" not in result.output.split("Possible undocumented problem in notes:", 1)[1].split("\n")[0]
    as_json = CliRunner().invoke(cli, ["notes", str(NOTES_DIR / "notes-bundle.json"), "--as-of", "2024-03-15",
                                       "--lexical-only", "--json"])
    found = [(f["title"], f["value"]) for f in json.loads(as_json.output)]
    assert found == [("Possible undocumented problem in notes", name)
                     for name in ("Atrial fibrillation", "Obesity", "Type 2 diabetes mellitus")]
    mentions = CliRunner().invoke(cli, ["notes", str(NOTES_DIR / "cardiology-2023-06-01.txt"), "--lexical-only", "--mentions"])
    assert "negated" in mentions.output and "hypothetical" in mentions.output


def test_train_command_and_argv_entry_point(tmp_path, needs_torch):
    data = synthetic_csv(tmp_path / "d.csv", n=120)
    code = main(["train", "--csv", str(data), "--target", "outcome", "--positive", "==1", "--features", "age,sex,sbp",
                 "--sex-column", "sex", "--age-column", "age", "--bootstrap", "20", "--out", str(tmp_path / "m")])
    assert code == 0 and (tmp_path / "m" / "MODEL_CARD.md").is_file()
    assert main(["train", "--out", str(tmp_path / "x")]) == 2  # usage error, no traceback
    assert main(["notes", str(tmp_path / "d.csv"), "--lexical-only"]) == 0  # any text file is a note


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CDS_MODEL_DIR_EMBEDDING", str(tmp_path / "absent"))
    from engine.models import loader

    loader.clear_cache()
    result = CliRunner().invoke(cli, ["ask", "does she have diabetes"])
    assert result.exit_code == 1 and "CDS_MODEL_DIR_EMBEDDING" in result.output
    info = CliRunner().invoke(cli, ["info"])
    assert "CDS_MODEL_DIR_EMBEDDING" in info.output and "does not exist" in info.output


def test_ask_command_answers_from_the_record_with_sources():
    from tests.models.test_record_qa import PATIENTS

    result = CliRunner().invoke(cli, ["ask", "Is she on a statin?", "--record", str(PATIENTS / "rosa.json"),
                                      "--as-of", "2025-06-01"])
    assert result.exit_code == 0, result.output
    assert "No statin on the active medication list (searched 3 MedicationRequest, 1 MedicationStatement)" in \
        result.output
    as_json = CliRunner().invoke(cli, ["ask", "latest eGFR", "--record", str(PATIENTS / "rosa.json"),
                                       "--as-of", "2025-06-01", "--json"])
    answer = json.loads(as_json.output)
    assert (answer["value"], answer["date"], answer["supports"][0]["source"]) == \
        ("58", "2024-11-20", "Observation/rosa-egfr-2024")
    bad = CliRunner().invoke(cli, ["ask", "x", "--as-of", "June"])
    assert bad.exit_code == 2 and "ISO date" in bad.output
    note = CliRunner().invoke(cli, ["ask", "x", "--record", str(NOTES_DIR / "cardiology-2023-06-01.txt")])
    assert note.exit_code == 2 and "models notes" in note.output
