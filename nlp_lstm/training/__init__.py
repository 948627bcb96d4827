"""Training: fit on one device with the run's callbacks (`fit`), tf.distribute strategies
(`distribution`), the custom loop that trains under them (`custom_loop`), and the trainers that
choose between the two (`trainers`)."""
