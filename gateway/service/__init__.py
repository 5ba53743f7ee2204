"""The service around the pipeline: systemd readiness and watchdog, the run lock, liveness
of every loop, native-library settings, Prometheus metrics and the periodic-job runner."""
