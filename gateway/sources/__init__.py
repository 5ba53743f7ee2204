"""Sources beside MQTT (gateway/mqtt_bridge.py): each feeds a RecordSink and depends only on
gateway.interfaces and the intake's validation."""
