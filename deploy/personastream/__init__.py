"""personastream: real-time personalization on NiFi, Kafka, PyFlink + River and Cassandra."""
