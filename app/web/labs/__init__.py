"""The lab's web service layer: who owns a lab, loading it from the database per request,
running a console line or a request against it, and saving it back with a version check."""
