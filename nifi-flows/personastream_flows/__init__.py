"""NiFi flows of personastream, kept as flow definition JSON and deployed with nipyapi."""
