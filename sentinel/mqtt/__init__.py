"""MQTT: topics, the outbox publisher, the embedded broker, command intake."""
