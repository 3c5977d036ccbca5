"""The embedded Mimio video API server: renders real MP4s offline."""
