"""NiFi 2 Python processors of personastream and the pure-Python logic they call."""
