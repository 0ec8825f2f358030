"""Record question answering from structure (docs/qa.md): what a question asks (intent), what its words stand for
(vocabulary), which entries of the record they mean (matching), the answers (answers, results, medications, entries,
facts), guideline statements applied to the patient (guideline), and how answers are scored (evaluation)."""
