"""Files and the terminal, the lowest layer: atomic writes, safe directory names, and
TensorFlow's C++ log lines kept off the terminal. Nothing here imports TensorFlow."""
