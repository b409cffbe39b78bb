"""What a training run needs besides the data and the model: its numeric precision."""
