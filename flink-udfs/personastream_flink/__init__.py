"""PyFlink jobs of personastream: SQL does the heavy lifting, Python UDFs see what they must."""
