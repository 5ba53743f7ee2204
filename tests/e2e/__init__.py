"""End-to-end tests: the real `gateway` process, a real Mosquitto, the installer, systemd."""
