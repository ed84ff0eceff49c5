"""Testing support: the pytest plugin, `MockHandle`, drift profiles. Loaded by every pytest
run, so nothing is imported here."""
