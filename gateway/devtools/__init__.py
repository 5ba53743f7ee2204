"""Developer tooling, never imported by the daemon: the demo, simulated sensor boxes,
synthetic compressor sound, the reference receiver of the upstream API, a private Mosquitto."""
