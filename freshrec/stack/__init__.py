"""The local development stack: a real Kafka broker and a real Redis, started as plain processes."""
