"""`memstrata bench reliability`: crash loop, tenant isolation, purge residue, faults."""
