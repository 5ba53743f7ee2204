"""`gateway simulate`: simulated sensor boxes; what each box sends (boxes) and when the
fleet publishes it over MQTT (fleet)."""
