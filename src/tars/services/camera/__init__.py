"""The camera service: OpenCV capture, MJPEG over HTTP, low-rate frames, capture requests."""
