"""`gateway baseline reset`: a device learns its normal anew (after a repair or a move)."""

from __future__ import annotations

from gateway.config import Config
from gateway.inference.results import forget_baseline
from gateway.store.database import open_database

ANALYSED_STREAMS = ("audio", "vibration")


def reset_baseline(config: Config, device_id: str, streams: tuple[str, ...]) -> int:
    """Forget the device's baselines of those streams; how many there were."""
    db = open_database(config.store_path)
    try:
        return forget_baseline(db.conn, device_id, streams)
    finally:
        db.close()
