"""``precision-cds sandbox``: act as the EHR against any FHIR server and show the services' cards in the terminal.

* :mod:`.keys`           — development signing keys (``sandbox keygen``) and the JWTs signed with them;
* :mod:`.fhir_access`    — the FHIR client for the server under test: a bearer token or SMART Backend Services;
* :mod:`.ehr`            — what an EHR does before a hook call: context, prefetch resolved from the templates;
* :mod:`.service_client` — the CDS service, in this process (Flask test client) or at a URL with a signed JWT;
* :mod:`.runner`         — one patient or a whole list, with latency and a summary, and ``--save``;
* :mod:`.render`         — cards and the summary in the terminal (rich);
* :mod:`.commands`       — the click commands, mounted by ``cds_hooks.cli``.

Nothing here is imported by the service itself.
"""
