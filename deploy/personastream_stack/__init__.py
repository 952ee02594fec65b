"""The local stack: each server a module, fetched from Maven Central or the PyFlink package."""
