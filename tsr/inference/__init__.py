"""Using trained checkpoints: safe loading, reading new images, metrics, export."""
